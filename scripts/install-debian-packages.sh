#!/usr/bin/env bash
# Installs the Debian packages of the real servers the project runs locally and
# in tests. Safe to run twice: it only calls apt-get when a binary is missing.
set -euo pipefail

# binary -> package that provides it
declare -A NEEDED=(
  [/usr/sbin/pdns_server]=pdns-server
  [/usr/lib/x86_64-linux-gnu/pdns/libgsqlite3backend.so]=pdns-backend-sqlite3
  [/usr/sbin/named]=bind9
  [/usr/sbin/tsig-keygen]=bind9-utils
  [/usr/bin/dig]=bind9-dnsutils
  [/usr/sbin/unbound]=unbound
  [/usr/bin/sqlite3]=sqlite3
  [/usr/lib/postgresql]=postgresql
  [/usr/bin/prometheus]=prometheus
  # The console's browser tests (tests/e2e/test_console.py): headless Chromium and its driver.
  [/usr/bin/chromium]=chromium
  [/usr/bin/chromedriver]=chromium-driver
)

missing=()
for path in "${!NEEDED[@]}"; do
  [ -e "$path" ] || missing+=("${NEEDED[$path]}")
done
# The sqlite backend's library path differs between architectures: trust dpkg.
if [[ " ${missing[*]-} " == *" pdns-backend-sqlite3 "* ]] && dpkg -s pdns-backend-sqlite3 >/dev/null 2>&1; then
  missing=("${missing[@]/pdns-backend-sqlite3}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]-}" | sed '/^$/d' | sort -u)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "debian packages: all present"
  exit 0
fi

echo "debian packages: installing ${missing[*]} (PowerDNS, BIND 9, Unbound, PostgreSQL, Prometheus for the local environment and tests; Chromium for the console's browser tests)"
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
  if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
    cat >&2 <<MSG
error: the Debian packages ${missing[*]} are missing and this user cannot install them
  why: installing packages needs root, and passwordless sudo is not available
  fix: run as root:  apt-get update && apt-get install -y ${missing[*]}
       then run the make target again
MSG
    exit 3
  fi
else
  SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
# Package postinst scripts try to start the services; nothing here runs them as
# services (the project starts its own instances on loopback ports), and on a
# machine without an init system those attempts only print noise.
if ! $SUDO apt-get update -q >/tmp/orchestrator-apt-update.log 2>&1; then
  echo "error: apt-get update failed (log: /tmp/orchestrator-apt-update.log)" >&2
  echo "  fix: check the package mirror configuration in /etc/apt/sources.list*, then run again" >&2
  exit 3
fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/orchestrator-apt-install.log 2>&1; then
  echo "error: apt-get install ${missing[*]} failed (log: /tmp/orchestrator-apt-install.log)" >&2
  tail -5 /tmp/orchestrator-apt-install.log >&2
  echo "  fix: read the log above, install the packages by hand, then run again" >&2
  exit 3
fi
# Debian starts the packaged services where an init system exists; the project
# never uses them, so stop any that did start to keep ports and CPU free.
for svc in pdns named bind9 unbound prometheus postgresql; do
  $SUDO service "$svc" stop >/dev/null 2>&1 || true
done
echo "debian packages: installed ${missing[*]}"
