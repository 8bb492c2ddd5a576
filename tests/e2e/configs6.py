"""DHCPv6 configuration documents for the end-to-end tests, and the IPv6 set-up of a topology.

`standard_dhcp6` is the configuration the DHCPv6 protocol tests are written against:

    subnet 1  2001:db8:1::/64 on the server interface   pool 2001:db8:1::100 - ::10f
              pd-pool 2001:db8:100::/40 delegated /56
              reservation DUID RESERVED_DUID -> 2001:db8:1::50 and 2001:db8:200::/56
    subnet 2  2001:db8:2::/64  selected by relay interface-id "relay-port-7", rapid commit
    subnet 3  2001:db8:3::/64  selected by relay link-address inside it
    global    preferred 3000, valid 4000, T1 1000, T2 2000, DNS 2001:db8:1::53,
              domain search example.net, option 99 (text "hello", only when asked for)
"""

from __future__ import annotations

import time

from configs import NS, _render
from netns import _check_allowed

SERVER6 = "2001:db8:1::1"
RELAY6 = "2001:db8:1::2"
DNS6 = "2001:db8:1::53"
RESERVED_DUID = "00:03:00:01:02:00:00:00:00:50"
RESERVED_ADDR = "2001:db8:1::50"
RESERVED_PREFIX = ("2001:db8:200::", 56)
POOL6 = [f"2001:db8:1::{i:x}" for i in range(0x100, 0x110)]
INTERFACE_ID = b"relay-port-7"


def server6_xml(dhcpv6: dict, lease_database: dict | None = None) -> str:
    out = [f'<server xmlns="{NS}">']
    if lease_database is not None:
        _render("lease-database", lease_database, 1, out)
    _render("dhcpv6", dhcpv6, 1, out)
    out.append("</server>")
    return "\n".join(out) + "\n"


def standard_subnets6(iface: str, **subnet1) -> list[dict]:
    s1 = {
        "id": 1,
        "prefix": "2001:db8:1::/64",
        "interface": iface,
        "pool": [{"start": POOL6[0], "end": POOL6[-1]}],
        "pd-pool": [{"prefix": "2001:db8:100::/40", "delegated-length": 56}],
        "reservation": [
            {"duid": RESERVED_DUID, "ip-address": RESERVED_ADDR, "prefix": f"{RESERVED_PREFIX[0]}/{RESERVED_PREFIX[1]}"}
        ],
    }
    s1.update(subnet1)
    return [
        s1,
        {
            "id": 2,
            "prefix": "2001:db8:2::/64",
            "interface-id": INTERFACE_ID.decode(),
            "rapid-commit": True,
            "pool": [{"start": "2001:db8:2::100", "end": "2001:db8:2::1ff"}],
        },
        {
            "id": 3,
            "prefix": "2001:db8:3::/64",
            "pool": [{"start": "2001:db8:3::100", "end": "2001:db8:3::1ff"}],
        },
    ]


def standard_dhcp6(iface: str, subnets: list | None = None, **subnet1) -> dict:
    return {
        "interface": iface,
        "preferred-lifetime": 3000,
        "valid-lifetime": 4000,
        "renew-timer": 1000,
        "rebind-timer": 2000,
        "dns-server": DNS6,
        "domain-search": "example.net",
        "option": [{"code": 99, "format": "text", "value": "hello"}],
        "subnet": subnets if subnets is not None else standard_subnets6(iface, **subnet1),
    }


def add6(ns, iface: str, addr_with_len: str):
    """An IPv6 address without duplicate address detection (the test owns the link)."""
    _check_allowed(addr_with_len)
    ns.ip("addr", "add", addr_with_len, "dev", iface, "nodad")


def setup_ipv6(topo, client_global: str | None = None):
    """Gives the server end 2001:db8:1::1/64 (and the client end an address when asked), and
    waits (bounded) for the link-local addresses both ends got when the links came up."""
    add6(topo.server, topo.server_if, f"{SERVER6}/64")
    if client_global:
        add6(topo.client, topo.client_if, client_global)
    for ns, iface in ((topo.server, topo.server_if), (topo.client, topo.client_if)):
        deadline = time.monotonic() + 10
        while not any(a.startswith("fe80") for a in ns.addresses(iface, family=6)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{ns.name}/{iface} got no link-local address")
            time.sleep(0.05)
        ns.wait_ipv6_dad(iface)


def link_local(ns, iface: str) -> str:
    for a in ns.addresses(iface, family=6):
        if a.startswith("fe80"):
            return a.split("/")[0]
    raise AssertionError(f"{ns.name}/{iface} has no link-local address")
