#!/bin/bash
# netdhcpd against ISC Kea 2.2 (DHCPv4) in network namespaces of its own; prints a table of
# ratios. Needs root, Debian's kea-dhcp4-server and kea-admin (perfdhcp). See bench/README.md.
#   bench/run.sh                  everything but the failover pairs (about 12 minutes on 2 cores)
#   REPEATS=1 bench/run.sh        one run of each step
#   ONLY=nd-fsync,kea bench/run.sh  a subset (kea, nd-fsync, nd-none, startup)
#   ONLY=ha bench/run.sh          the failover pairs instead (bench/ha.py, about 25 minutes;
#                                 HA_ONLY=throughput,takeover,resync,resync-2m for a subset)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${NETDHCPD:-}" ]; then
    cargo build --release -p netdhcpd
fi
case ",${ONLY:-}," in
    *,ha,*)
        rest=$(echo ",$ONLY," | sed 's/,ha,/,/g; s/^,*//; s/,*$//')
        python3 "$here/ha.py"
        if [ -z "$rest" ]; then exit 0; fi
        export ONLY="$rest"
        ;;
esac
exec python3 "$here/bench.py"
