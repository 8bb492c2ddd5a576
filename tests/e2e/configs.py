"""Configuration documents (instances of netdhcp-server.yang) for the tests.

A config is built from plain Python data: a dict becomes child elements in insertion order
(list keys first), a list repeats its element, a scalar is text. `standard_dhcp4` is the
configuration the DHCPv4 protocol tests are written against.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

NS = "urn:netdhcp:yang:netdhcp-server"


def _render(tag: str, value, indent: int, out: list[str]):
    pad = "  " * indent
    if isinstance(value, list):
        for item in value:
            _render(tag, item, indent, out)
    elif isinstance(value, dict):
        out.append(f"{pad}<{tag}>")
        for k, v in value.items():
            if v is not None:
                _render(k, v, indent + 1, out)
        out.append(f"{pad}</{tag}>")
    else:
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append(f"{pad}<{tag}>{escape(str(value))}</{tag}>")


def server_xml(dhcpv4: dict | None = None, lease_database: dict | None = None) -> str:
    out = [f'<server xmlns="{NS}">']
    if lease_database is not None:
        _render("lease-database", lease_database, 1, out)
    if dhcpv4 is not None:
        _render("dhcpv4", dhcpv4, 1, out)
    out.append("</server>")
    return "\n".join(out) + "\n"


RESERVED_MAC = "02:00:00:00:00:50"
RESERVED_IP = "100.64.0.50"
RESERVED_HOSTNAME = "reserved-host"
POOL = [f"100.64.1.{i}" for i in range(10)]


def standard_subnet(**overrides) -> dict:
    subnet = {
        "id": 1,
        "prefix": "100.64.0.0/10",
        "router": "100.64.0.1",
        "pool": [{"start": "100.64.1.0", "end": "100.64.1.9"}],
        "reservation": [{"ip-address": RESERVED_IP, "hw-address": RESERVED_MAC, "hostname": RESERVED_HOSTNAME}],
        "option": [{"code": 42, "format": "ipv4-address-list", "value": "100.64.0.1"}],
    }
    subnet.update(overrides)
    return subnet


def standard_dhcp4(iface: str, subnet: dict | None = None, subnets: list | None = None, **overrides) -> dict:
    """The DHCPv4 configuration of the protocol tests; keyword arguments (underscores for
    dashes) add or replace global leaves."""
    d = {
        "interface": iface,
        "valid-lifetime": 4000,
        "renew-timer": 1000,
        "rebind-timer": 2000,
        "dns-server": "100.64.0.1",
        "domain-name": "example.net",
        "domain-search": "example.net",
    }
    for k, v in overrides.items():
        d[k.replace("_", "-")] = v
    d["subnet"] = subnets if subnets is not None else [subnet if subnet is not None else standard_subnet()]
    return d


def standard_config(iface: str, **kw) -> str:
    return server_xml(dhcpv4=standard_dhcp4(iface, **kw))
