#!/bin/bash
# netdhcpd against ISC Kea 2.2 in network namespaces of its own; prints tables of ratios.
# Needs root, Debian's kea-dhcp4-server, kea-dhcp6-server and kea-admin (perfdhcp), and the
# project's .venv (paramiko) for the NETCONF parts. See bench/README.md.
#   bench/run.sh                  DHCPv4 (everything of bench.py; about 12 minutes on 2 cores)
#   REPEATS=1 bench/run.sh        one run of each step
#   ONLY=nd-fsync,kea bench/run.sh  a subset of bench.py (kea, nd-fsync, nd-none, nd-fsync-c1,
#                                 startup; floor-none, floor-fsync only when named)
#   ONLY=ha bench/run.sh          the failover pairs (bench/ha.py, about 25 minutes;
#                                 HA_ONLY=throughput,takeover,resync,resync-2m for a subset)
#   ONLY=v6 bench/run.sh          DHCPv6 (bench/dhcp6.py; V6_ONLY=kea,nd-fsync,nd-fsync-c1,startup)
#   ONLY=commit bench/run.sh      changes with 2,000,000 leases: NETCONF commit vs Kea config-set
#                                 (bench/commit.py; COMMIT_ONLY=nd,kea)
#   ONLY=commit6 bench/run.sh     DHCPv6 commits with 2,000,000 v6 leases (bench/commit6.py)
#   ONLY=netconf bench/run.sh     NETCONF figures against Netopeer2's (bench/netconf_bench.py)
#   ONLY=v6,commit,netconf bench/run.sh   several, in that order
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${NETDHCPD:-}" ]; then
    cargo build --release -p netdhcpd
fi
venv_python="$here/../.venv/bin/python"
rest=",${ONLY:-},"
for part in ha v6 commit commit6 netconf; do
    case "$rest" in
        *,$part,*) ;;
        *) continue ;;
    esac
    rest=$(echo "$rest" | sed "s/,$part,/,/g")
    echo "== $part: $(date -u '+%F %T UTC'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
    case "$part" in
        ha) python3 "$here/ha.py" ;;
        v6) python3 "$here/dhcp6.py" ;;
        commit) "$venv_python" "$here/commit.py" ;;
        commit6) "$venv_python" "$here/commit6.py" ;;
        netconf) "$venv_python" "$here/netconf_bench.py" ;;
    esac
done
if [ -n "${ONLY:-}" ]; then
    rest=$(echo "$rest" | sed 's/^,*//; s/,*$//')
    if [ -z "$rest" ]; then exit 0; fi
    export ONLY="$rest"
fi
exec python3 "$here/bench.py"
