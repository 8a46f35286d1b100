#!/usr/bin/env bash
# CI step after a merge: `orchestrator up` each stack the merged change affects (the same
# selection as the preview). The workflow runs it in a protected environment: a person
# approves the job before it starts. Usage: scripts/ci/up.sh <base-commit> [<head>]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="${1:?usage: scripts/ci/up.sh <base-commit> [<head>]}"
HEAD="${2:-HEAD}"
cd "$ROOT"
mapfile -t stacks < <(.venv/bin/python scripts/ci/preview.py --base "$BASE" --head "$HEAD" --list)
if [[ ${#stacks[@]} -eq 0 ]]; then
  echo "no stack affected: nothing to deploy"
  exit 0
fi
for stack in "${stacks[@]}"; do
  echo "== orchestrator up --stack $stack"
  .venv/bin/orchestrator up --stack "$stack" --yes
done
