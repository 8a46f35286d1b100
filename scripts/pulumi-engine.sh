#!/usr/bin/env bash
# Provides the Pulumi CLI at the version pinned in tools/go.mod, which must equal
# the `pulumi` Python package pinned in pyproject.toml.
#
#   1. `pulumi` on PATH already prints that version  -> use it;
#   2. the per-version cache outside the repository has it -> reuse it (seconds);
#   3. otherwise build it from Pulumi's Go module (minutes, once per machine).
#
# Prints the directory that holds `pulumi` on its last line of stdout.
# The binaries are never committed: the cache is $ORCHESTRATOR_CACHE_DIR
# (default ~/.cache/orchestrator).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { echo "pulumi-engine: $*" >&2; }
die() { echo "error: $1" >&2; [ -n "${2:-}" ] && echo "  why: $2" >&2; [ -n "${3:-}" ] && echo "  fix: $3" >&2; exit 3; }

VERSION="$(grep -oE "github.com/pulumi/pulumi/pkg/v3 v[0-9]+\.[0-9]+\.[0-9]+" "$ROOT/tools/go.mod" | head -1 | sed "s/.* v//")"
[ -n "$VERSION" ] || die "cannot read the Pulumi version from tools/go.mod" "no require of github.com/pulumi/pulumi/pkg/v3" "restore tools/go.mod from git"
PY_PIN="$(sed -n 's/^ *"pulumi==\([0-9.]*\)",*$/\1/p' "$ROOT/pyproject.toml" | head -1)"
if [ "$PY_PIN" != "$VERSION" ]; then
  die "the Pulumi CLI version ($VERSION, tools/go.mod) and the pulumi Python package ($PY_PIN, pyproject.toml) differ" \
      "the Automation API and the language host must match the engine exactly" \
      "pin the same version in both files"
fi

CACHE="${ORCHESTRATOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/orchestrator}/pulumi/v$VERSION"
BIN="$CACHE/bin"

version_of() { "$1" version 2>/dev/null | head -1 | tr -d '[:space:]' | sed 's/^v//'; }

# Pulumi's program runner for Python (`pulumi-language-python-exec`), taken from the
# sdk/v3 module of the same version in the Go module cache. The language host runs
# every program through it, exactly as Pulumi's own host does.
install_helpers() {
  local dest="$1" sdk
  install_launchers "$dest"
  install_front "$dest"
  if [ -x "$dest/pulumi-language-python-exec" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to fetch Pulumi's Python program runner" "go is not on PATH" "install Go (https://go.dev/dl) and run again"
  sdk="$(cd "$ROOT/tools" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3 2>/dev/null || true)"
  if [ -z "$sdk" ] || [ ! -d "$sdk" ]; then
    (cd "$ROOT/tools" && GOFLAGS=-mod=readonly go mod download github.com/pulumi/pulumi/sdk/v3) >&2
    sdk="$(cd "$ROOT/tools" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)"
  fi
  mkdir -p "$dest"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$dest/pulumi-language-python-exec"
}

# The plugin front (tools/pluginfront; docs/engine.md, "The plugin front"): a small Go
# program that answers, beside the CLI, the per-resource calls a policy pack needs no Python
# for. Rebuilt when its source changes; seconds after the CLI's build, whose packages it
# shares in Go's build cache.
FRONT=orchestrator-plugin-front
install_front() {
  local dest="$1" sum
  sum="$(cat "$ROOT"/tools/pluginfront/*.go "$ROOT/tools/go.mod" "$ROOT/tools/go.sum" | sha256sum | cut -c1-16)"
  if [ -x "$dest/$FRONT" ] && [ "$(cat "$dest/$FRONT.source" 2>/dev/null)" = "$sum" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build the plugin front" "go is not on PATH" "install Go (https://go.dev/dl) and run again"
  log "building the plugin front (tools/pluginfront)"
  mkdir -p "$dest"
  (cd "$ROOT/tools" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$dest/$FRONT.tmp" ./pluginfront) >&2 \
    || die "building the plugin front failed" "see the Go output above" "fix the problem it names and run again"
  mv -f "$dest/$FRONT.tmp" "$dest/$FRONT"
  echo "$sum" > "$dest/$FRONT.source"
}

# Three launchers beside the CLI, where it looks for bundled plugins first:
#  - pulumi-language-python: the language host for `runtime: python`. Pulumi's own is
#    a Go module that the module proxy here refuses for every version (docs/engine.md),
#    so the project ships its own implementation of that gRPC service
#    (orchestrator/adapters/pulumi/langhost.py).
#  - pulumi-resource-pulumi-python: the dynamic-provider plugin (`python -m
#    pulumi.dynamic`). Pulumi's shell script resolves a relative `virtualenv` option
#    against the plugin's working directory, which is the program directory
#    (programs/), not the project root; this launcher uses the orchestrator's
#    interpreter instead. The project's own resources no longer use it (below); it stays
#    for programs that still declare dynamic resources.
#  - pulumi-resource-orchestrator: the project's provider plugin, serving
#    orchestrator:dns:RecordSet and orchestrator:database:Primary
#    (orchestrator/adapters/pulumi/provider/). Found here, never downloaded.
# All run with ORCHESTRATOR_PYTHON, which the orchestrator (and `orchestrator engine
# env`) sets to its virtualenv's python.
write_launcher() {
  local path="$1" cmd="$2"
  printf '#!/bin/sh\n# Installed by scripts/pulumi-engine.sh (docs/engine.md).\nexec "${ORCHESTRATOR_PYTHON:-python3}" %s "$@"\n' "$cmd" > "$path.tmp"
  chmod 0755 "$path.tmp"
  mv -f "$path.tmp" "$path"
}
install_launchers() {
  local dest="$1"
  mkdir -p "$dest"
  write_launcher "$dest/pulumi-language-python" "-m orchestrator.adapters.pulumi.langhost"
  write_launcher "$dest/pulumi-resource-pulumi-python" "-u -m pulumi.dynamic"
  write_launcher "$dest/pulumi-resource-orchestrator" "-u -m orchestrator.adapters.pulumi.provider"
}

# 1. A matching pulumi on PATH.
if ON_PATH="$(command -v pulumi 2>/dev/null)" && [ "$(version_of "$ON_PATH")" = "$VERSION" ] \
   && [ "$(dirname "$ON_PATH")" != "$BIN" ]; then
  log "using pulumi v$VERSION from PATH ($ON_PATH)"
  install_helpers "$BIN"
  mkdir -p "$BIN" && ln -sf "$ON_PATH" "$BIN/pulumi"
  echo "$BIN"
  exit 0
fi

# 2. The cache.
if [ -x "$BIN/pulumi" ] && [ "$(version_of "$BIN/pulumi")" = "$VERSION" ]; then
  install_helpers "$BIN"
  log "pulumi v$VERSION ready (cached in $BIN)"
  echo "$BIN"
  exit 0
fi

# 3. Build from the Go module.
command -v go >/dev/null 2>&1 || die "the Pulumi CLI v$VERSION is not installed and Go is not available to build it" \
  "the CLI cannot be downloaded here; it is built from github.com/pulumi/pulumi/pkg/v3" "install Go 1.26+ and run again"
log "building the Pulumi CLI v$VERSION from its Go module (first run on this machine only)."
log "This takes about 3-6 minutes on 2 cores: the CLI is ~1,500 Go packages. Later runs reuse $BIN."
export GOFLAGS=-mod=readonly
cd "$ROOT/tools"
start=$(date +%s)
log "step 1/3: downloading the Go modules the CLI needs"
# `go list -deps` fetches only what the build imports (`go mod download` would also
# ask for test-only modules, some of which the proxy here does not serve).
total="$(go list -deps github.com/pulumi/pulumi/pkg/v3/cmd/pulumi | wc -l)" \
  || die "downloading the Go modules failed" "see the Go output above" "check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and run again"
log "step 2/3: compiling $total packages (progress below)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/pulumi-build.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
# `go build -v` names each package as it is compiled: count them as progress.
go build -v -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$VERSION" \
  -o "$TMP/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi 2>&1 \
  | awk -v total="$total" '{ n++; if (n % 100 == 0) { printf "pulumi-engine:   %d/%d packages (%ds)\n", n, total, systime() - '"$start"' > "/dev/stderr"; fflush("/dev/stderr") } }'
[ "${PIPESTATUS[0]}" -eq 0 ] || die "building the Pulumi CLI failed" "see the Go output above" "fix the toolchain problem it names (disk space, Go version) and run again"
built="$(version_of "$TMP/pulumi")"
[ "$built" = "$VERSION" ] || die "the built CLI reports version '$built', not $VERSION" "the link-time version flag did not apply" "report this; delete $CACHE and run again"
log "step 3/3: installing into $BIN"
mkdir -p "$BIN"
mv -f "$TMP/pulumi" "$BIN/pulumi"
install_helpers "$BIN"
log "pulumi v$VERSION built in $(( $(date +%s) - start ))s"
echo "$BIN"
