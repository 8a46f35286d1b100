#!/usr/bin/env bash
# `make demo`: start the local environment, deploy the local stack, show it resolving.
set -euo pipefail
cd "$(dirname "$0")/.."
ORCH=.venv/bin/orchestrator

step() { printf '\n== %s\n' "$*"; }

step "Local environment: PowerDNS, BIND 9, Unbound and workloads on loopback (orchestrator dev up)"
$ORCH dev up

step "Deploying stack 'local' (stacks/Pulumi.local.yaml): preview, then up"
$ORCH up --stack local --yes

step "What the servers serve now: each hostname at PowerDNS/BIND and through Unbound (orchestrator status)"
$ORCH status --stack local

cat <<'MSG'

Done. The servers keep running: try `.venv/bin/orchestrator status`, `dev status`, or
stop everything with `make down`.
MSG
