#!/usr/bin/env python3
"""Writes a DHCPv4 lease file in ISC Kea 2.2's memfile format (kea-leases4.csv), for start-up
benchmarks of Kea and netdhcpd.

usage: gen-leases4.py OUT COUNT [FIRST_ADDRESS]

Every row is a live lease of subnet 1 shaped like a typical client: a 6-byte MAC counted up
from 0e:00:00:00:00:00 (perfdhcp in the benchmark uses other bases), client-id 01 + MAC, no
host name, state 0, a 30-day lifetime that started within the last hour, so nothing expires
while a benchmark runs. Addresses count up from FIRST_ADDRESS (default 100.64.1.0, the first
address of the benchmark pool).
"""

import ipaddress
import sys
import time

HEADER = "address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context\n"
LIFETIME = 30 * 86400


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    out, count = sys.argv[1], int(sys.argv[2])
    first = int(ipaddress.IPv4Address(sys.argv[3] if len(sys.argv) == 4 else "100.64.1.0"))
    now = int(time.time())
    with open(out, "w", buffering=1 << 20) as f:
        f.write(HEADER)
        chunk = []
        for i in range(count):
            a = first + i
            mac = f"0e:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
            expire = now + LIFETIME - (i % 3600)
            chunk.append(
                f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255},{mac},01:{mac},{LIFETIME},{expire},1,0,0,,0,\n"
            )
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
