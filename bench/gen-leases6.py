#!/usr/bin/env python3
"""Writes a DHCPv6 lease file in ISC Kea 2.2's memfile format (kea-leases6.csv), for start-up
benchmarks of Kea and netdhcpd.

usage: gen-leases6.py OUT COUNT [FIRST_ADDRESS]

Every row is a live IA_NA lease (lease_type 0, prefix_len 128) of subnet 1 shaped like a
typical client: a DUID-LL (00:03:00:01 + a MAC counted up from 0e:00:00:00:00:00), IAID 1, no
host name, no hardware address column, state 0, valid 30 days and preferred 25 days from a
start within the last hour, so nothing expires while a benchmark runs. Addresses count up
from FIRST_ADDRESS (default 2001:db8:1::8000:0, inside the benchmark pool).
"""

import ipaddress
import sys
import time

HEADER = (
    "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
    "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source\n"
)
VALID = 30 * 86400
PREFERRED = 25 * 86400


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    out, count = sys.argv[1], int(sys.argv[2])
    first = int(ipaddress.IPv6Address(sys.argv[3] if len(sys.argv) == 4 else "2001:db8:1::8000:0"))
    now = int(time.time())
    with open(out, "w", buffering=1 << 20) as f:
        f.write(HEADER)
        chunk = []
        for i in range(count):
            addr = ipaddress.IPv6Address(first + i).compressed
            mac = f"0e:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
            expire = now + VALID - (i % 3600)
            chunk.append(f"{addr},00:03:00:01:{mac},{VALID},{expire},1,{PREFERRED},0,1,128,0,0,,,0,,1,0\n")
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
