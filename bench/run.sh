#!/bin/bash
# netdhcpd against ISC Kea 2.2 (DHCPv4) in network namespaces of its own; prints a table of
# ratios. Needs root, Debian's kea-dhcp4-server and kea-admin (perfdhcp). See bench/README.md.
#   bench/run.sh                  everything (about 12 minutes on 2 cores)
#   REPEATS=1 bench/run.sh        one run of each step
#   ONLY=nd-fsync,kea bench/run.sh  a subset (kea, nd-fsync, nd-none, startup)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${NETDHCPD:-}" ]; then
    cargo build --release -p netdhcpd
fi
exec python3 "$here/bench.py"
