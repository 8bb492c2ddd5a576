"""Migration from ISC Kea 2.2: `netdhcpd import-kea`.

(a) examples/kea-dhcp4.conf (comments and all; Kea itself accepts it with `kea-dhcp4 -t`)
    converts with a report of exactly what is left out, and the result passes `netdhcpd
    check`. kea-dhcp4 runs on the Kea file, then netdhcpd on the converted document (same
    namespaces, one after the other, netdhcpd continuing Kea's lease file as the converted
    lease-database names it): the same clients get the same addresses - reserved by MAC and
    by client-id, and dynamic ones from the pool - and the same options (subnet mask, router,
    DNS servers - the reservation's own for the client-id host -, domain name, NTP servers, the
    always-sent MTU, lease time, T1, T2, server identifier).
(b) the same for examples/kea-dhcp6.conf with kea-dhcp6: an address from the pool, the
    address and prefix reserved by DUID, a prefix from the pd-pool, DNS and domain search,
    lifetimes.
(c) a Kea configuration with settings netdhcp cannot express converts, passes check, and the
    report names each of them by JSON path.
(d) files that are not Kea configuration fail with a clear message and a non-zero exit.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest
from scapy.layers import dhcp6 as d6

from client import Dhcp4Client
from configs6 import setup_ipv6
from daemon import BINARY, REPO
from dhcp6_client import V6Client, ia_addresses, ia_prefixes, opt, opts, server_duid_of, status_of
from loadtools import KeaDhcp4, KeaServer

EXAMPLES = REPO / "examples"
POOL4 = ("100.64.0.100", "100.64.0.199")
# Asked for by every client; 26 (MTU) is not asked for: it is configured always-send.
PRL = [1, 3, 6, 15, 42, 51, 58, 59]
COMPARED4 = [1, 3, 6, 15, 26, 42, 51, 54, 58, 59]


class KeaDhcp6(KeaServer):
    """kea-dhcp6 (see loadtools.KeaServer)."""

    program = "kea-dhcp6"
    started = "DHCP6_STARTED"


def localized_example(name: str, iface: str, workdir: Path, extra: dict[str, str] = ()) -> Path:
    """examples/<name> with its interface and lease file moved into the test's namespace and
    folder, as an operator would adapt the example."""
    text = (EXAMPLES / name).read_text()
    assert '"eth0"' in text and "/var/lib/kea/" in text
    text = text.replace('"eth0"', f'"{iface}"').replace("/var/lib/kea/", f"{workdir}/")
    for old, new in dict(extra).items():
        text = text.replace(old, new)
    path = workdir / name
    path.write_text(text)
    return path


def kea_accepts(ns, program: str, conf: Path, workdir: Path):
    # Kea wants its PID and lock files somewhere writable: the test's folder.
    env = [f"KEA_PIDFILE_DIR={workdir}", f"KEA_LOCKFILE_DIR={workdir}"]
    p = ns.run("env", *env, program, "-t", str(conf), check=False, timeout=60)
    assert p.returncode == 0, f"{program} -t {conf} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"


def import_kea(*files: Path, out: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [str(BINARY), "import-kea", *map(str, files)]
    if out is not None:
        cmd += ["-o", str(out)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def check_passes(path: Path):
    p = subprocess.run([str(BINARY), "check", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"netdhcpd check {path}:\n{p.stdout}\n{p.stderr}\n{path.read_text()}"


def converted(*files: Path, out: Path) -> list[str]:
    """Runs import-kea to `out`; returns the report lines (stderr)."""
    p = import_kea(*files, out=out)
    assert p.returncode == 0, f"import-kea exited {p.returncode}:\n{p.stderr}"
    assert p.stdout == ""
    check_passes(out)
    return p.stderr.splitlines()


def in_range(addr: str, first: str, last: str) -> bool:
    a = ipaddress.ip_address(addr)
    return ipaddress.ip_address(first) <= a <= ipaddress.ip_address(last)


# ---------------------------------------------------------------- (a) DHCPv4


V4_CLIENTS = {
    # name: (mac, client-id)
    "printer": ("02:00:00:00:00:10", None),
    "nas": ("02:00:00:00:00:99", "01:02:00:00:00:00:11"),
    "dyn1": ("02:00:00:4b:00:01", None),
    "dyn2": ("02:00:00:4b:00:02", None),
    "dyn3": ("02:00:00:4b:00:03", "ff:00:00:4b:03"),
}


def v4_round(client: Dhcp4Client) -> dict[str, tuple[str, dict[int, bytes | None]]]:
    """Every client's full DORA: (address, {option: payload}) from the ACK."""
    out = {}
    for name, (mac, cid) in V4_CLIENTS.items():
        ack = client.lease(mac=mac, client_id=cid, prl=PRL)
        out[name] = (ack.yiaddr, {code: ack.opt(code) for code in COMPARED4})
    return out


def test_dhcp4_example_round_trip(topo, client, start_daemon, tmp_path):
    kea_dir = tmp_path / "kea"
    kea_dir.mkdir()
    conf = localized_example("kea-dhcp4.conf", topo.server_if, kea_dir)
    kea_accepts(topo.server, "kea-dhcp4", conf, kea_dir)

    xml = tmp_path / "netdhcp.xml"
    report = converted(conf, out=xml)
    assert report == [
        "Dhcp4/subnet4[1]/pools[0]/pool: netdhcp never gives out the subnet's network or broadcast "
        "address: pool 100.65.0.128 - 100.65.0.254 converted",
        "Dhcp4/loggers: not supported (netdhcpd logs to stderr at the level of its log-level option "
        "or RUST_LOG), dropped",
    ]

    kea = KeaDhcp4(topo.server, kea_dir, {})
    kea.config_path = conf
    kea.start()
    try:
        from_kea = v4_round(client)
    finally:
        kea.stop()

    start_daemon(xml.read_text())
    from_netdhcp = v4_round(client)

    assert from_kea["printer"][0] == "100.64.0.10"
    assert from_kea["nas"][0] == "100.64.0.11"
    for name in ("dyn1", "dyn2", "dyn3"):
        assert in_range(from_kea[name][0], *POOL4), from_kea[name]
    # Expected option payloads, as Kea sends them.
    opts = from_kea["printer"][1]
    assert opts[1] == bytes([255, 255, 255, 0])
    assert opts[3] == bytes([100, 64, 0, 1])
    assert opts[6] == bytes([100, 64, 0, 53, 100, 64, 0, 54])
    assert opts[15] == b"example.net"
    assert opts[26] == (1500).to_bytes(2, "big")
    assert opts[42] == bytes([100, 64, 0, 123])
    assert [int.from_bytes(opts[c], "big") for c in (51, 58, 59)] == [4000, 1000, 2000]
    assert opts[54] == bytes([100, 64, 0, 1])
    assert from_kea["nas"][1][6] == bytes([100, 64, 0, 99])

    for name in V4_CLIENTS:
        kea_addr, kea_opts = from_kea[name]
        nd_addr, nd_opts = from_netdhcp[name]
        # Dynamic clients too: netdhcpd continues Kea's lease file.
        assert nd_addr == kea_addr, f"{name}: Kea gave {kea_addr}, netdhcpd {nd_addr}"
        for code in COMPARED4:
            assert nd_opts[code] == kea_opts[code], (
                f"{name}: option {code}: Kea {kea_opts[code]!r}, netdhcpd {nd_opts[code]!r}"
            )


# ---------------------------------------------------------------- (b) DHCPv6

POOL6 = ("2001:db8:1::1000", "2001:db8:1::1fff")
PD_POOL6 = ipaddress.IPv6Network("2001:db8:100::/40")
V6_CLIENTS = {
    # The example's reservation: DUID-LL of 02:00:00:00:00:50 is 00:03:00:01:02:00:00:00:00:50.
    "reserved": "02:00:00:00:00:50",
    "dyn1": "02:00:00:6c:00:01",
    "dyn2": "02:00:00:6c:00:02",
}
IAID_NA, IAID_PD = 0x11, 0x22


def only(items: list, what: str):
    assert len(items) == 1, f"expected one {what}, got {items}"
    return items[0]


def v6_summary(msg) -> dict:
    """What a REPLY (or ADVERTISE) grants and tells the client."""
    ia_na = only([o for o in opts(msg, d6.DHCP6OptIA_NA) if o.iaid == IAID_NA], "IA_NA")
    ia_pd = only([o for o in opts(msg, d6.DHCP6OptIA_PD) if o.iaid == IAID_PD], "IA_PD")
    assert status_of(ia_na) in (None, 0) and status_of(ia_pd) in (None, 0), msg.show(dump=True)
    addr = only([a for a in ia_addresses(ia_na) if a.validlft > 0], "address")
    prefix = only([p for p in ia_prefixes(ia_pd) if p.validlft > 0], "prefix")
    dns = opt(msg, d6.DHCP6OptDNSServers)
    domains = opt(msg, d6.DHCP6OptDNSDomains)
    return {
        "address": str(ipaddress.IPv6Address(addr.addr)),
        "prefix": (str(ipaddress.IPv6Address(prefix.prefix)), prefix.plen),
        "na_timers": (ia_na.T1, ia_na.T2),
        "address_lifetimes": (addr.preflft, addr.validlft),
        "pd_timers": (ia_pd.T1, ia_pd.T2),
        "prefix_lifetimes": (prefix.preflft, prefix.validlft),
        "dns": None if dns is None else [str(a) for a in dns.dnsservers],
        "domains": None if domains is None else [bytes(d).decode() if isinstance(d, bytes) else str(d) for d in domains.dnsdomains],
    }


def v6_lease(v6: V6Client) -> dict:
    """SOLICIT, ADVERTISE, REQUEST, REPLY for an address and a prefix; the REPLY's summary."""
    oro = d6.DHCP6OptOptReq(reqopts=[23, 24])
    solicit = v6.base(d6.DHCP6_Solicit) / oro / V6Client.ia_na(IAID_NA) / V6Client.ia_pd(IAID_PD)
    adv = v6.one(solicit)
    assert type(adv).__name__ == "DHCP6_Advertise", f"{v6.mac}: SOLICIT -> {type(adv).__name__}"
    offered = v6_summary(adv)
    request = (
        v6.base(d6.DHCP6_Request, server_duid=server_duid_of(adv))
        / oro
        / V6Client.ia_na(IAID_NA, [offered["address"]])
        / V6Client.ia_pd(IAID_PD, [offered["prefix"]])
    )
    rep = v6.one(request)
    assert type(rep).__name__ == "DHCP6_Reply", f"{v6.mac}: REQUEST -> {type(rep).__name__}"
    return v6_summary(rep)


def v6_round(topo) -> dict[str, dict]:
    return {name: v6_lease(V6Client(topo.client, topo.client_if, mac)) for name, mac in V6_CLIENTS.items()}


def test_dhcp6_example_round_trip(topo, start_daemon, tmp_path):
    setup_ipv6(topo)
    kea_dir = tmp_path / "kea"
    kea_dir.mkdir()
    # Kea keeps its server DUID in data-directory: the test's folder, not /var/lib/kea.
    conf = localized_example(
        "kea-dhcp6.conf",
        topo.server_if,
        kea_dir,
        {'"lease-database": {': f'"data-directory": "{kea_dir}",\n    "lease-database": {{'},
    )
    kea_accepts(topo.server, "kea-dhcp6", conf, kea_dir)

    xml = tmp_path / "netdhcp.xml"
    report = converted(conf, out=xml)
    assert report == [
        "Dhcp6/loggers: not supported (netdhcpd logs to stderr at the level of its log-level option "
        "or RUST_LOG), dropped",
        "Dhcp6/data-directory: not supported (netdhcp keeps its files in its --state-dir), dropped",
    ]

    kea = KeaDhcp6(topo.server, kea_dir, {})
    kea.config_path = conf
    kea.start()
    try:
        from_kea = v6_round(topo)
    finally:
        kea.stop()

    start_daemon(xml.read_text())
    from_netdhcp = v6_round(topo)

    reserved = from_kea["reserved"]
    assert reserved["address"] == "2001:db8:1::50"
    assert reserved["prefix"] == ("2001:db8:200::", 56)
    for name in ("dyn1", "dyn2"):
        got = from_kea[name]
        assert in_range(got["address"], *POOL6), got
        assert got["prefix"][1] == 56
        assert ipaddress.IPv6Network(f"{got['prefix'][0]}/56").subnet_of(PD_POOL6), got
    for got in from_kea.values():
        assert got["na_timers"] == (1000, 2000) and got["pd_timers"] == (1000, 2000), got
        assert got["address_lifetimes"] == (3000, 4000) and got["prefix_lifetimes"] == (3000, 4000), got
        assert got["dns"] == ["2001:db8:1::53"], got
        assert got["domains"] in (["example.net."], ["example.net"]), got

    for name in V6_CLIENTS:
        # Dynamic clients too: netdhcpd continues Kea's lease file.
        assert from_netdhcp[name] == from_kea[name], f"{name}: Kea {from_kea[name]}, netdhcpd {from_netdhcp[name]}"


# ---------------------------------------------------------------- (c) what is not converted

UNSUPPORTED = """\
# A Kea configuration with settings netdhcp has no counterpart for.
{
"Dhcp4": {
    "interfaces-config": { "interfaces": [ "@IFACE@/100.64.0.1" ] },
    "control-socket": { "socket-type": "unix", "socket-name": "@DIR@/kea4.sock" },
    "lease-database": { "type": "memfile", "name": "@DIR@/kea-leases4.csv", "lfc-interval": 0 },
    "valid-lifetime": 3600,
    "option-data": [ { "name": "dhcp-lease-time", "data": "60" } ],
    "subnet4": [ {
        "id": 1, "subnet": "100.64.0.0/24",
        "next-server": "100.64.0.2",
        "pools": [ { "pool": "100.64.0.100 - 100.64.0.199",
                     "option-data": [ { "name": "routers", "data": "100.64.0.2" } ] } ],
        "reservations": [
            { "circuit-id": "'port7'", "ip-address": "100.64.0.7" },
            { "hw-address": "02:00:00:00:00:10", "ip-address": "100.64.0.10" } ]
    } ],
    "shared-networks": [ {
        "name": "floor2", "interface": "@IFACE@",
        "option-data": [ { "name": "routers", "data": "100.66.0.1" } ],
        "subnet4": [ { "id": 3, "subnet": "100.66.0.0/24", "pools": [ { "pool": "100.66.0.10 - 100.66.0.20" } ] },
                     { "id": 4, "subnet": "100.67.0.0/24", "pools": [ { "pool": "100.67.0.10 - 100.67.0.20" } ] } ]
    } ],
    "hooks-libraries": [
        { "library": "@HOOKS@/libdhcp_lease_cmds.so" },
        { "library": "@HOOKS@/libdhcp_ha.so", "parameters": { "high-availability": [ {
            "this-server-name": "server1", "mode": "hot-standby",
            "heartbeat-delay": 1000, "max-response-delay": 3000, "max-ack-delay": 1000, "max-unacked-clients": 0,
            "sync-page-limit": 500, "sync-timeout": 30000,
            "peers": [
                { "name": "server1", "url": "http://100.100.0.1:8001/", "role": "primary", "auto-failover": true },
                { "name": "server2", "url": "http://100.100.0.2:8001/", "role": "standby", "auto-failover": false }
            ] } ] } },
        { "library": "@HOOKS@/libdhcp_stat_cmds.so" }
    ],
    "dhcp-ddns": { "enable-updates": false }
}
}
"""
HOOKS = "/usr/lib/x86_64-linux-gnu/kea/hooks"


def test_unsupported_settings_are_reported_and_the_rest_converts(topo, tmp_path):
    conf = tmp_path / "kea-dhcp4.conf"
    text = UNSUPPORTED.replace("@IFACE@", topo.server_if).replace("@DIR@", str(tmp_path)).replace("@HOOKS@", HOOKS)
    conf.write_text(text)
    # Kea itself takes every one of these settings.
    kea_accepts(topo.server, "kea-dhcp4", conf, tmp_path)
    xml = tmp_path / "netdhcp.xml"
    report = converted(conf, out=xml)
    p = "Dhcp4"
    assert report == [
        f"{p}/interfaces-config/interfaces[0]: listening on address 100.64.0.1 only: not supported, "
        f"netdhcp listens on all of {topo.server_if}",
        f"{p}/option-data[0]: option 51 is managed by netdhcp and cannot be configured, dropped "
        "(set valid-lifetime instead)",
        f"{p}/subnet4[0]/pools[0]/option-data: options per pool: not supported (set them on the subnet "
        "or a reservation), dropped",
        f"{p}/subnet4[0]/reservations[0]/circuit-id: netdhcp reserves DHCPv4 addresses by hw-address or "
        "client-id only; reservation dropped",
        f"{p}/subnet4[0]/next-server: not supported, dropped",
        f"{p}/shared-networks[0]: shared network flattened: its subnets are converted with its settings, "
        "but a client is no longer given an address from a sibling subnet when its own has none",
        f"{p}/hooks-libraries[1]/parameters/high-availability[0]/sync-timeout: not supported, dropped",
        f'{p}/hooks-libraries[2]: hook library "{HOOKS}/libdhcp_stat_cmds.so": not supported, dropped',
        f"{p}/control-socket: not supported (netdhcp is managed over NETCONF), dropped",
        f"{p}/dhcp-ddns: not supported, dropped",
    ]
    doc = xml.read_text()
    # What was convertible is there: the flattened subnets with the shared network's router,
    # the remaining reservation, the failover relationship.
    for fragment in (
        f"<interface>{topo.server_if}</interface>",
        "<prefix>100.66.0.0/24</prefix>",
        "<prefix>100.67.0.0/24</prefix>",
        "<router>100.66.0.1</router>",
        "<hw-address>02:00:00:00:00:10</hw-address>",
        "<this-server-name>server1</this-server-name>",
        "<mode>hot-standby</mode>",
        "<heartbeat-delay>1000</heartbeat-delay>",
        "<max-unacked-clients>0</max-unacked-clients>",
        "<sync-page-size>500</sync-page-size>",
        "<auto-failover>false</auto-failover>",
    ):
        assert fragment in doc, f"{fragment} missing from:\n{doc}"
    assert doc.count("<router>100.66.0.1</router>") == 2
    assert "100.64.0.7" not in doc.split("-->", 1)[1]
    # The report is in the document too, for whoever reads it later.
    assert "Dhcp4/dhcp-ddns: not supported, dropped" in doc.split("-->", 1)[0]
    # The same on standard output when no -o is given.
    p = import_kea(conf)
    assert p.returncode == 0 and p.stdout == doc


# ---------------------------------------------------------------- (d) not Kea configuration


@pytest.mark.parametrize(
    "name,text,message",
    [
        ("netdhcp.xml", None, "not a Kea configuration: invalid JSON"),
        ("agent.json", '{ "Control-agent": { "http-port": 8000 } }', 'no "Dhcp4" or "Dhcp6" object'),
        ("list.json", "[1, 2]", 'no "Dhcp4" or "Dhcp6" object'),
        ("broken.conf", '{ "Dhcp4": { /* unclosed', "comment is not closed"),
    ],
)
def test_not_kea_configuration_is_an_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text if text is not None else (EXAMPLES / "single-server.xml").read_text())
    p = import_kea(path, out=tmp_path / "out.xml")
    assert p.returncode != 0, p.stderr
    assert p.stderr.startswith(f"netdhcpd: {path}: "), p.stderr
    assert message in p.stderr, p.stderr
    assert not (tmp_path / "out.xml").exists()


def test_unreadable_file_is_an_error(tmp_path):
    p = import_kea(tmp_path / "missing.conf")
    assert p.returncode != 0
    assert f"cannot read {tmp_path / 'missing.conf'}" in p.stderr
    assert p.stdout == ""
