#!/usr/bin/env bash
# `make demo`: a real switchover on the local environment.
#   1. start the local environment (PowerDNS, BIND 9, Unbound, lease servers, workloads)
#   2. deploy the `local` stack and show every hostname resolving
#   3. dry-run the switch to the other group (the impact report and its fingerprint)
#   4. execute that reviewed plan (--plan FINGERPRINT) and show the result
# Safe to run again: each run switches to the group that is not active now.
set -euo pipefail
cd "$(dirname "$0")/.."
ORCH=.venv/bin/orchestrator

step() { printf '\n== %s\n' "$*"; }

step "Local environment (orchestrator dev up)"
$ORCH dev up

step "Deploying stack 'local' (stacks/Pulumi.local.yaml): preview, then up"
$ORCH up --stack local --yes

step "What the servers serve now (orchestrator status)"
$ORCH status --stack local

current="$($ORCH get-active-groups --stack local --json | .venv/bin/python -c 'import json,sys; print(",".join(json.load(sys.stdin)["active_groups"]))')"
if [ "$current" = "group-a" ]; then target=group-b; else target=group-a; fi

step "Dry-run: switch ${current} -> ${target} (read-only: nothing is written)"
report="$($ORCH switch --stack local --to "$target" --dry-run)"
printf '%s\n' "$report"
fingerprint="$(sed -n 's/^Plan fingerprint: //p' <<<"$report")"
[ -n "$fingerprint" ] || { echo "demo: the dry-run printed no plan fingerprint" >&2; exit 1; }

step "Switch ${current} -> ${target}, executing exactly the reviewed plan ${fingerprint}"
$ORCH switch --stack local --to "$target" --plan "$fingerprint" --yes

step "After the switch (orchestrator status)"
$ORCH status --stack local

step "Audit trail: stack history joined with the switch journal (orchestrator history)"
$ORCH history --stack local --limit 5

cat <<MSG

Done: traffic moved from ${current} to ${target}. The servers keep running:
  .venv/bin/orchestrator switch --rollback --yes    # go back
  .venv/bin/orchestrator dev status                 # what runs where
  make down                                         # stop everything
Run \`make demo\` again to switch back.
MSG
