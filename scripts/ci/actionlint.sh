#!/usr/bin/env bash
# actionlint on .github/workflows: installed once per machine from the Go module proxy
# (the PyPI wrapper downloads its binary at build time, which cannot work here), cached
# beside the Pulumi CLI in ~/.cache/orchestrator.
set -euo pipefail
VERSION=1.7.12
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${ORCHESTRATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchestrator}/actionlint/v$VERSION"
BIN="$CACHE/bin/actionlint"
if [[ ! -x "$BIN" ]]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "error: actionlint v$VERSION is not installed and Go is not available to build it" >&2
    echo "  fix: install Go (it also builds the Pulumi CLI: make setup), then run again" >&2
    exit 3
  fi
  echo "setup: building actionlint v$VERSION from its Go module (once per machine)" >&2
  GOBIN="$CACHE/bin" GOFLAGS=-mod=mod go install "github.com/rhysd/actionlint/cmd/actionlint@v$VERSION" \
    || { echo "error: building actionlint failed (see the Go output above); check the Go module proxy and run again" >&2; exit 3; }
fi
cd "$ROOT"
# shellcheck/pyflakes integrations are off: neither is a pinned tool of this project.
exec "$BIN" -shellcheck= -pyflakes= "$@"
