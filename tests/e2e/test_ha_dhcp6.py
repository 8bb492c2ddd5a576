"""Failover (HA) for DHCPv6: one relationship (the same /server/ha, one peer link) serves both
families, so every pair here also carries the DHCPv4 subnet of configs_ha.

Topology: ha.HaTopology (s1, s2 and the clients on one bridge, a separate peer link), plus IPv6
on the bridge legs: s1 2001:db8:1::1/64, s2 2001:db8:1::3/64 (nodad), the clients only their
link-local address. Multicast snooping is off on the test's bridge, so a SOLICIT to ff02::1:2
reaches both servers whatever MLD state the bridge has learnt (a server restarted in the middle
of a test joins again).

DHCPv6 configuration (both servers): subnet 1 2001:db8:1::/64 on the bridge leg, pool
2001:db8:1::100 - ::1ff, pd-pool 2001:db8:100::/40 delegated /56, preferred 3000, valid 4000,
T1 1000, T2 2000.

What is checked, as facts on the wire (the Server Identifier of every ADVERTISE and REPLY, the
addresses and prefixes in them) and in both servers' leases6.csv (Kea 2.2 leases6 format, last
row per (lease_type, address) wins):
  - hot-standby: the primary answers every DHCPv6 (and DHCPv4) client, the standby none; both
    lease files end with the same leases, those the clients were given;
  - load-balancing: each client is answered by exactly the server the RFC 3074 hash of its DUID
    (the Client Identifier's payload) names, even -> primary;
  - kill -9 of the primary: the standby reaches partner-down and serves the primary's clients
    with the leases it holds from the lease updates; a new client gets nothing another holds;
  - the primary's return on its state directory: it synchronises the leases the standby granted
    alone (lease6-get-page) and both are in hot-standby with the same leases.

A client's server during a failover: RFC 8415 section 16.6 says a server MUST discard a RENEW
whose Server Identifier is not its own, so a RENEW still addressed to the dead primary goes
unanswered; the client's REBIND (no Server Identifier, after T2) is what any server answers.
Both are sent, and a RENEW addressed to the standby itself.

Readiness is the servers' word (READY=1, ha-heartbeat states), the addresses' state in the
kernel (no tentative address), never a guessed sleep; the only fixed windows are the listening
times for a second (unwanted) answer, as in ha.dora_all.
"""

from __future__ import annotations

import csv
import ipaddress
import itertools
import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from scapy.layers import dhcp6 as d6

import configs_ha as ch
from configs import NS, _render
from configs6 import add6
from daemon import check_config
from dhcp6_client import ALL_SERVERS, V6Client, ia_addresses, ia_prefixes, opt, opts, parse, status_of
from ha import Client, StatePoller, assert_path, client_mac, dora_all, lb_hash, lease_view, view_diff, wait_pair
from netconf_tools import _in_netns, wait_for

HS, LB = ch.HOT_STANDBY, ch.LOAD_BALANCING
S1_IP, S2_IP = ch.S1_LAN_IP, ch.S2_LAN_IP
S1_V6, S2_V6 = "2001:db8:1::1", "2001:db8:1::3"
SUBNET6 = ipaddress.ip_network("2001:db8:1::/64")
POOL6 = ("2001:db8:1::100", "2001:db8:1::1ff")
PD_POOL = ipaddress.ip_network("2001:db8:100::/40")
PD_LEN = 56
PREFERRED, VALID, T1, T2 = 3000, 4000, 1000, 2000
NA_IAID, PD_IAID = 1, 2
PAIR_UP = 40  # seconds for a fresh pair to reach its normal state
FAILOVER_TIMERS = ch.timers(heartbeat_delay=250)
DETECT_MARGIN = 3.0
REPLY_TIMEOUT = 5.0  # seconds to wait for every client's answer (a loaded two-core machine)
GRACE = 0.6  # seconds to keep listening once every client has an answer: a second server is seen
NO_REPLY_WAIT = 1.5  # seconds of silence that count as "not answered"
ST_SUCCESS = 0
ADVERTISE, REPLY = 2, 7  # message types (RFC 8415 section 7.3)

LEASE6_HEADER = [
    "address", "duid", "valid_lifetime", "expire", "subnet_id", "pref_lifetime", "lease_type", "iaid",
    "prefix_len", "fqdn_fwd", "fqdn_rev", "hostname", "hwaddr", "state", "user_context", "hwtype",
    "hwaddr_source",
]  # fmt: skip
TYPE_NA, TYPE_PD = "0", "2"
SO_BINDTODEVICE = 25
DUID_FILE = "dhcp6-server-duid"


def detect_bound(t: dict) -> float:
    return (t["max-response-delay"] + t["heartbeat-delay"]) / 1000 + DETECT_MARGIN


# ---------------------------------------------------------------- configuration


def ha_dhcp6(iface: str) -> dict:
    """The DHCPv6 side of the pair: subnet 1 on the bridge leg, an address pool and a pd-pool,
    no reservation (a reservation is answered by whoever is in scope). Children in the model's
    order."""
    return {
        "interface": iface,
        "preferred-lifetime": PREFERRED,
        "valid-lifetime": VALID,
        "renew-timer": T1,
        "rebind-timer": T2,
        "dns-server": "2001:db8:1::53",
        "subnet": [{
            "id": 1,
            "prefix": str(SUBNET6),
            "interface": iface,
            "pool": [{"start": POOL6[0], "end": POOL6[1]}],
            "pd-pool": [{"prefix": str(PD_POOL), "delegated-length": PD_LEN}],
        }],
    }  # fmt: skip


def pair6_xml(mode: str, s1_if: str, s2_if: str, *, timer_values: dict | None = None) -> tuple[str, str]:
    """(server1's, server2's document): dhcpv4 (configs_ha), dhcpv6 and the one ha container,
    the same peer list on both, each naming itself."""
    peers = ch.ha_peers(mode)
    docs = []
    for this, iface in ((ch.S1_NAME, s1_if), (ch.S2_NAME, s2_if)):
        out = [f'<server xmlns="{NS}">']
        _render("dhcpv4", ch.ha_dhcp4(iface), 1, out)
        _render("dhcpv6", ha_dhcp6(iface), 1, out)
        _render("ha", ch.ha_block(this, mode, peers=peers, timer_values=timer_values), 1, out)
        out.append("</server>")
        docs.append("\n".join(out) + "\n")
    return docs[0], docs[1]


def assert_check(path: Path):
    r = check_config(path)
    assert r.returncode == 0 and "valid" in r.stdout, f"netdhcpd check {path}: {r.stdout}{r.stderr}"


# ---------------------------------------------------------------- IPv6 on the HA topology


def _wait_link_local(ns, iface: str, timeout: float = 10):
    """Bounded wait for iface's link-local address, then for no tentative address on it."""
    deadline = time.monotonic() + timeout
    while not any(a.startswith("fe80") for a in ns.addresses(iface, family=6)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{ns.name}/{iface} got no link-local address within {timeout}s")
        time.sleep(0.05)
    ns.wait_ipv6_dad(iface, timeout=timeout)


def _ping6(ns, addr: str) -> bool:
    return ns.run("ping", "-6", "-c", "1", "-W", "1", addr, check=False).returncode == 0


def setup_ha_ipv6(topo):
    """2001:db8:1::1/64 on s1's bridge leg, ::3/64 on s2's (nodad), multicast snooping off on
    the bridge; waits (bounded) until every leg's addresses are usable and the servers reach
    each other over the bridge in IPv6."""
    topo.lan.ip("link", "set", "dev", topo.bridge, "type", "bridge", "mcast_snooping", "0")
    add6(topo.s1, topo.s1_if, f"{S1_V6}/64")
    add6(topo.s2, topo.s2_if, f"{S2_V6}/64")
    for ns, iface in ((topo.s1, topo.s1_if), (topo.s2, topo.s2_if), (topo.client, topo.client_if)):
        _wait_link_local(ns, iface)
    assert f"{S1_V6}/64" in topo.s1.addresses(topo.s1_if, family=6)
    assert f"{S2_V6}/64" in topo.s2.addresses(topo.s2_if, family=6)
    wait_for(lambda: _ping6(topo.s1, S2_V6) and _ping6(topo.s2, S1_V6), timeout=10,
             what="s1 and s2 reach each other's 2001:db8:1:: address over the bridge")  # fmt: skip


# ---------------------------------------------------------------- DHCPv6 clients on one socket


@dataclass
class Heard:
    """One datagram a server sent the clients' socket."""

    t: float
    src: str
    msg: object

    @property
    def server_duid(self) -> bytes | None:
        sid = opt(self.msg, d6.DHCP6OptServerId)
        return None if sid is None else bytes(sid.duid)


_trids = itertools.count(random.randrange(1, 1 << 23))


def next_trid() -> int:
    return next(_trids) % (1 << 24) or 1


class Link6:
    """A UDP socket [::]:546 on the client leg, made inside the client namespace (it stays
    there), used from the test process: many clients' messages go out to ff02::1:2 at once and
    every answer of every server is kept, by transaction id."""

    def __init__(self, ns, iface: str):
        def make():
            index = socket.if_nametoindex(iface)
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
            s.bind(("::", 546, 0, 0))
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
            return s, index

        self.ns, self.iface = ns, iface
        self.sock, self.index = _in_netns(ns.name, make)

    def close(self):
        self.sock.close()

    def ask(self, msgs: list, want_types: set[int], *, timeout: float = REPLY_TIMEOUT,
            grace: float = GRACE) -> dict[int, list[Heard]]:  # fmt: skip
        """Sends every message to ff02::1:2 and collects the answers of the wanted types by
        transaction id, until every message has one and `grace` has passed since, or `timeout`.
        trid -> answers (possibly none, possibly several servers')."""
        got: dict[int, list[Heard]] = {m.trid: [] for m in msgs}
        assert len(got) == len(msgs), "transaction ids must differ"
        for m in msgs:
            self.sock.sendto(bytes(m), (ALL_SERVERS, 547, 0, self.index))
        deadline = time.monotonic() + timeout
        complete_at = None
        while True:
            now = time.monotonic()
            end = deadline if complete_at is None else min(deadline, complete_at + grace)
            if now >= end:
                return got
            r, _, _ = select.select([self.sock], [], [], end - now)
            if not r:
                continue
            data, src = self.sock.recvfrom(65536)
            try:
                m = parse(data)
            except Exception:  # not ours to judge here: a reply we cannot read is no answer
                continue
            if getattr(m, "msgtype", None) in want_types and getattr(m, "trid", None) in got:
                got[m.trid].append(Heard(time.time(), src[0].split("%")[0], m))
            if complete_at is None and all(got.values()):
                complete_at = time.monotonic()


@dataclass
class Client6:
    """A DHCPv6 client: a DUID-LL from a MAC, one IA_NA (iaid 1), one IA_PD (iaid 2)."""

    mac: str
    v6: V6Client = field(init=False)

    def __post_init__(self):
        self.v6 = V6Client(None, "", self.mac)

    @property
    def duid(self) -> bytes:
        return bytes(self.v6.duid)

    @property
    def duid_text(self) -> str:
        return self.duid.hex(":")

    def msg(self, cls, *, server: bytes | None = None, address: str | None = None, prefix: str | None = None):
        """A message of type cls (a transaction id of its own), with a Server Identifier when
        server (raw DUID bytes) is given, an IA_NA and an IA_PD (with address / prefix when
        given: a hint in a SOLICIT, the lease in a REQUEST, RENEW or REBIND)."""
        m = self.v6.base(cls, server_duid=None if server is None else scapy_duid(server), trid=next_trid())
        m = m / V6Client.ia_na(NA_IAID, [address] if address else [])
        return m / V6Client.ia_pd(PD_IAID, [(prefix, PD_LEN)] if prefix else [])


def scapy_duid(raw: bytes):
    """raw DUID bytes as scapy's DUID layer (whatever the type), to put in a Server Identifier."""
    duid = d6.DHCP6OptServerId(struct.pack("!HH", 2, len(raw)) + raw).duid
    assert bytes(duid) == raw, (bytes(duid).hex(), raw.hex())
    return duid


@dataclass
class Granted:
    """What one REPLY gave a client."""

    address: str
    prefix: str
    na_valid: int
    na_preferred: int
    pd_valid: int
    pd_preferred: int
    server_duid: bytes


def granted(c: Client6, h: Heard) -> Granted:
    """The IA_NA address and IA_PD prefix of a successful REPLY (asserted so)."""
    m = h.msg
    assert isinstance(m, d6.DHCP6_Reply), f"{c.mac}: expected a REPLY, got {m.summary()}"
    cid = opt(m, d6.DHCP6OptClientId)
    assert cid is not None and bytes(cid.duid) == c.duid, f"{c.mac}: Client Identifier not echoed"
    assert status_of(m) in (None, ST_SUCCESS), f"{c.mac}: message status {status_of(m)}"
    nas, pds = opts(m, d6.DHCP6OptIA_NA), opts(m, d6.DHCP6OptIA_PD)
    assert [i.iaid for i in nas] == [NA_IAID] and [i.iaid for i in pds] == [PD_IAID], (
        f"{c.mac}: IAs {[i.iaid for i in nas]} / {[i.iaid for i in pds]}"
    )
    na, pd = nas[0], pds[0]
    assert status_of(na) in (None, ST_SUCCESS) and status_of(pd) in (None, ST_SUCCESS), (
        f"{c.mac}: IA status NA {status_of(na)} PD {status_of(pd)}"
    )
    [a] = ia_addresses(na)
    [p] = ia_prefixes(pd)
    assert ipaddress.ip_address(a.addr) in SUBNET6, a.addr
    assert ipaddress.ip_address(POOL6[0]) <= ipaddress.ip_address(a.addr) <= ipaddress.ip_address(POOL6[1]), a.addr
    assert p.plen == PD_LEN and ipaddress.ip_network(f"{p.prefix}/{p.plen}").subnet_of(PD_POOL), (p.prefix, p.plen)
    assert (na.T1, na.T2) == (T1, T2), (na.T1, na.T2)
    return Granted(a.addr, p.prefix, a.validlft, a.preflft, p.validlft, p.preflft, h.server_duid)


@dataclass
class Exchange6:
    client: Client6
    advertises: list[Heard] = field(default_factory=list)
    replies: list[Heard] = field(default_factory=list)

    def brief(self, names: dict[bytes, str]) -> str:
        def who(h):
            return names.get(h.server_duid, h.server_duid.hex(":") if h.server_duid else None)

        return (f"{self.client.mac} ({self.client.duid_text}): ADVERTISE from {[who(h) for h in self.advertises]}, "
                f"REPLY from {[who(h) for h in self.replies]}")  # fmt: skip


def sarr_all(link: Link6, clients: list[Client6]) -> dict[str, Exchange6]:
    """SOLICIT from every client at once, then REQUEST (of the first ADVERTISE's address and
    prefix, to its server) from every client advertised. Every answer of every server is kept.
    mac -> Exchange6."""
    out = {c.mac: Exchange6(c) for c in clients}
    sol = {c.mac: c.msg(d6.DHCP6_Solicit) for c in clients}
    advs = link.ask(list(sol.values()), {ADVERTISE})
    reqs = {}
    for c in clients:
        heard = advs[sol[c.mac].trid]
        out[c.mac].advertises = heard
        if not heard:
            continue
        addr, pfx = offered(heard[0])
        reqs[c.mac] = c.msg(d6.DHCP6_Request, server=heard[0].server_duid, address=addr, prefix=pfx)
    if reqs:
        reps = link.ask(list(reqs.values()), {REPLY})
        for mac, m in reqs.items():
            out[mac].replies = reps[m.trid]
    return out


def offered(h: Heard) -> tuple[str | None, str | None]:
    """The first address of the IA_NA and prefix of the IA_PD of an ADVERTISE."""
    na, pd = opt(h.msg, d6.DHCP6OptIA_NA), opt(h.msg, d6.DHCP6OptIA_PD)
    addr = ia_addresses(na)[0].addr if na is not None and ia_addresses(na) else None
    pfx = ia_prefixes(pd)[0].prefix if pd is not None and ia_prefixes(pd) else None
    return addr, pfx


def ask_one(link: Link6, msg, *, timeout: float = REPLY_TIMEOUT, grace: float = GRACE) -> list[Heard]:
    """Every REPLY to one message."""
    return link.ask([msg], {REPLY}, timeout=timeout, grace=grace)[msg.trid]


# ---------------------------------------------------------------- servers and lease files


def server_duid(s) -> bytes:
    """The server DUID netdhcpd keeps in its state directory (hex, ':'-separated)."""
    path = s.daemon.state_dir / DUID_FILE
    text = wait_for(lambda: path.exists() and path.read_text().strip(), timeout=5, what=f"{path} written")
    return bytes.fromhex(text.replace(":", ""))


def lease6_file(s) -> Path:
    return s.daemon.state_dir / "leases6.csv"


def lease6_rows(s) -> list[dict]:
    path = lease6_file(s)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header is None:
            return []
        assert header == LEASE6_HEADER, f"{path}: header {header} is not Kea 2.2's leases6 header"
        rows = []
        for lineno, fields in enumerate(r, start=2):
            assert len(fields) == len(header), f"{path}:{lineno}: {len(fields)} fields: {fields}"
            rows.append(dict(zip(header, fields)))
        return rows


def lease6_view(rows: list[dict], now: float | None = None) -> dict[tuple[str, str], tuple]:
    """(lease_type, address) -> (duid, iaid, prefix_len, valid_lifetime, expire, subnet_id) of
    the bound leases: the last row per (type, address) wins; a row with valid lifetime 0
    deletes; expired or declined/reclaimed rows do not count."""
    now = time.time() if now is None else now
    last: dict[tuple[str, str], dict] = {}
    for r in rows:
        last[(r["lease_type"], str(ipaddress.ip_address(r["address"])))] = r
    return {
        k: (r["duid"].lower(), r["iaid"], r["prefix_len"], int(r["valid_lifetime"]), int(r["expire"]), r["subnet_id"])
        for k, r in last.items()
        if int(r["valid_lifetime"]) > 0 and int(r["expire"]) > now and r["state"] == "0"
    }  # fmt: skip


def held(view: dict) -> dict[tuple[str, str], str]:
    """(type, address) -> DUID."""
    return {k: v[0] for k, v in view.items()}


def expected_held(grants: dict[str, tuple[Client6, Granted]]) -> dict[tuple[str, str], str]:
    """What the files must bind after these grants: each client's address and prefix to its
    DUID."""
    out = {}
    for c, g in grants.values():
        out[(TYPE_NA, str(ipaddress.ip_address(g.address)))] = c.duid_text
        out[(TYPE_PD, str(ipaddress.ip_address(g.prefix)))] = c.duid_text
    return out


def assert_files_agree(s1, s2, what: str) -> dict:
    """Both leases6.csv bind the same leases (same DUID, IAID, length, lifetimes, expiry);
    returns that view."""
    v1, v2 = lease6_view(lease6_rows(s1)), lease6_view(lease6_rows(s2))
    assert v1 == v2, f"{what}: the two leases6.csv disagree: " + view_diff(v1, v2)
    return v1


def start_pair6(ha_servers, ha_topo, tmp_path: Path, mode: str, **kw):
    """Both documents pass `netdhcpd check`, both servers started (READY=1) and in the mode's
    normal state; (s1, s2, s1's DUID, s2's DUID)."""
    x1, x2 = pair6_xml(mode, ha_topo.s1_if, ha_topo.s2_if, **kw)
    for i, xml in ((1, x1), (2, x2)):
        p = tmp_path / f"{mode}-s{i}.xml"
        p.write_text(xml)
        assert_check(p)
    s1 = ha_servers.netdhcpd(1, x1)
    s2 = ha_servers.netdhcpd(2, x2)
    took = wait_pair(s1, s2, mode, timeout=PAIR_UP)
    print(f"pair in {mode} {took:.1f}s after both were ready")
    duid1, duid2 = server_duid(s1), server_duid(s2)
    assert duid1 != duid2, "the two servers must have their own DUIDs"
    return s1, s2, duid1, duid2


def assert_answered_only_by(got: dict[str, Exchange6], expected: dict[str, bytes], names: dict[bytes, str],
                            what: str) -> dict[str, tuple[Client6, Granted]]:  # fmt: skip
    """Every client got exactly one ADVERTISE and one REPLY, both carrying expected[mac] as
    Server Identifier, and the REPLY grants an address and a prefix; mac -> (client, grant)."""
    bad = []
    for mac, ex in got.items():
        want = expected[mac]
        if [h.server_duid for h in ex.advertises] != [want] or [h.server_duid for h in ex.replies] != [want]:
            bad.append(ex.brief(names) + f" (expected only {names[want]})")
    assert not bad, f"{what}: {len(bad)} of {len(got)} clients not answered by exactly their server:\n" + "\n".join(bad)
    out = {}
    for mac, ex in got.items():
        g = granted(ex.client, ex.replies[0])
        assert (g.na_valid, g.na_preferred, g.pd_valid, g.pd_preferred) == (VALID, PREFERRED, VALID, PREFERRED), (
            f"{mac}: lifetimes {g}"
        )
        out[mac] = (ex.client, g)
    addrs = [g.address for _, g in out.values()]
    pfxs = [g.prefix for _, g in out.values()]
    assert len(set(addrs)) == len(addrs), f"{what}: an address given twice: {sorted(addrs)}"
    assert len(set(pfxs)) == len(pfxs), f"{what}: a prefix given twice: {sorted(pfxs)}"
    return out


def clients6(group: int, n: int) -> list[Client6]:
    return [Client6(client_mac(group, i)) for i in range(n)]


@pytest.fixture
def v6_topo(ha_topo):
    setup_ha_ipv6(ha_topo)
    return ha_topo


@pytest.fixture
def link6(v6_topo):
    link = Link6(v6_topo.client, v6_topo.client_if)
    yield link
    link.close()


# ---------------------------------------------------------------- configuration


def test_dhcp6_pair_configurations_pass_check(tmp_path):
    """Both servers' documents of both modes (dhcpv4, dhcpv6 and ha in one document) pass
    `netdhcpd check`."""
    for mode in (HS, LB):
        for t in (None, FAILOVER_TIMERS):
            for i, xml in enumerate(pair6_xml(mode, "lan1", "lan1", timer_values=t), start=1):
                p = tmp_path / f"{mode}-{'fast' if t else 'default'}-s{i}.xml"
                p.write_text(xml)
                assert_check(p)


# ---------------------------------------------------------------- normal operation


def test_hot_standby_primary_answers_every_dhcp6_client_and_both_files_agree(ha_servers, v6_topo, link6, tmp_path):
    """Hot-standby: 10 DHCPv6 clients (distinct DUIDs) do SOLICIT/ADVERTISE/REQUEST/REPLY for an
    IA_NA and an IA_PD: every ADVERTISE and REPLY carries server1's DUID, none server2's. A
    REPLY leaves only once the standby has the lease, so both leases6.csv then bind the same 10
    addresses and 10 prefixes to the same DUIDs. The same relationship serves DHCPv4: a few
    DHCPv4 clients are answered by server1 alone and both leases4.csv agree."""
    topo = v6_topo
    s1, s2, duid1, duid2 = start_pair6(ha_servers, topo, tmp_path, HS)
    names = {duid1: "server1", duid2: "server2"}
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == []

    clients = clients6(0x61, 10)
    assert len({c.duid for c in clients}) == 10
    t0 = int(time.time())
    got = sarr_all(link6, clients)
    t1 = int(time.time()) + 1
    grants = assert_answered_only_by(got, {c.mac: duid1 for c in clients}, names, "hot-standby")
    # The DUID on the wire is the one in server1's state directory.
    assert {g.server_duid for _, g in grants.values()} == {duid1}

    v = assert_files_agree(s1, s2, "hot-standby")
    want = expected_held(grants)
    assert held(v) == want, f"the files bind other leases than the clients were given: {view_diff(held(v), want)}"
    assert sum(k[0] == TYPE_NA for k in v) == 10 and sum(k[0] == TYPE_PD for k in v) == 10
    for (kind, a), (duid, iaid, plen, valid, expire, subnet) in v.items():
        assert (iaid, plen, valid, subnet) == (
            (str(NA_IAID), "128", VALID, "1") if kind == TYPE_NA else (str(PD_IAID), str(PD_LEN), VALID, "1")
        ), (kind, a, v[(kind, a)])
        assert t0 + VALID <= expire <= t1 + VALID, f"{a}: expire {expire}"

    # DHCPv4 through the same relationship.
    v4 = [Client(client_mac(0x62, i)) for i in range(4)]
    got4 = dora_all(topo.client, topo.client_if, v4)
    bad = [ex.brief() for ex in got4.values() if ex.offered_by() != [S1_IP] or ex.acked_by() != [S1_IP]]
    assert not bad, "DHCPv4 in hot-standby: not answered by server1 alone:\n" + "\n".join(bad)
    w1, w2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert w1 == w2 and len(w1) == 4, "the two leases4.csv disagree: " + view_diff(w1, w2)

    o1, o2 = s1.oper(), s2.oper()
    assert (o1["state"], o2["state"]) == (HS, HS), (o1, o2)
    assert int(o1["updates-sent"]) >= 10 + 4 and int(o2["updates-received"]) >= 10 + 4, (o1, o2)


def test_load_balancing_each_dhcp6_client_answered_by_its_duid_hash_owner(ha_servers, v6_topo, link6, tmp_path):
    """Load-balancing: 20 DHCPv6 clients, each answered (ADVERTISE and REPLY) by exactly the
    server the RFC 3074 hash of its DUID names (even -> server1, odd -> server2), never by
    both; both leases6.csv end with the same 20 addresses and 20 prefixes."""
    s1, s2, duid1, duid2 = start_pair6(ha_servers, v6_topo, tmp_path, LB)
    names = {duid1: "server1", duid2: "server2"}
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == [ch.S2_NAME]

    clients = clients6(0x63, 20)
    expected = {c.mac: duid1 if lb_hash(c.duid) % 2 == 0 else duid2 for c in clients}
    n1 = sum(v == duid1 for v in expected.values())
    print(f"{n1} DUIDs hash to server1, {20 - n1} to server2")
    assert 0 < n1 < 20, "the test clients cover both scopes"
    got = sarr_all(link6, clients)
    grants = assert_answered_only_by(got, expected, names, "load-balancing")

    v = assert_files_agree(s1, s2, "load-balancing")
    want = expected_held(grants)
    assert held(v) == want, f"the files bind other leases than the clients were given: {view_diff(held(v), want)}"
    assert sum(k[0] == TYPE_NA for k in v) == 20 and sum(k[0] == TYPE_PD for k in v) == 20
    o1, o2 = s1.oper(), s2.oper()
    assert (o1["state"], o2["state"]) == (LB, LB), (o1, o2)


# ---------------------------------------------------------------- failover and recovery


@dataclass
class Failover:
    s1: object
    s2: object
    duid1: bytes
    duid2: bytes
    names: dict
    before: dict  # mac -> (client, grant) given by the primary before the kill
    during: dict  # mac -> (client, grant) given or renewed by the standby alone
    new_client: Client6
    view_at_kill: dict  # both files' lease6_view when the primary was killed


def _failover(ha_servers, topo, link6, tmp_path) -> Failover:
    """Hot-standby pair; 4 clients leased by the primary (both files agree); kill -9 of the
    primary; the standby reaches partner-down and then:
      - a RENEW still addressed to the primary is not answered (RFC 8415 section 16.6),
      - the same client's REBIND is answered with the same address and prefix,
      - a RENEW addressed to the standby (another client) is answered with the same lease,
      - a new client, hinting at a held address and prefix, gets an address and a prefix no
        other client holds."""
    s1, s2, duid1, duid2 = start_pair6(ha_servers, topo, tmp_path, HS, timer_values=FAILOVER_TIMERS)
    names = {duid1: "server1", duid2: "server2"}
    clients = clients6(0x64, 4)
    got = sarr_all(link6, clients)
    before = assert_answered_only_by(got, {c.mac: duid1 for c in clients}, names, "before the kill")
    v = assert_files_agree(s1, s2, "before the kill")
    assert held(v) == expected_held(before), "the standby does not hold every lease the primary granted"

    s1.kill9()
    detected = s2.wait_state("partner-down", timeout=detect_bound(FAILOVER_TIMERS))
    print(f"standby in partner-down {detected:.2f}s after the kill")
    assert s2.heartbeat()["scopes"] == [ch.S1_NAME], "in partner-down the standby serves the primary's clients"

    a, b, _c, d = clients
    ga, gb, gd = before[a.mac][1], before[b.mac][1], before[d.mac][1]
    during = {}

    # A's RENEW to its server (the primary): not the standby's to answer.
    renew_a = a.msg(d6.DHCP6_Renew, server=duid1, address=ga.address, prefix=ga.prefix)
    heard = ask_one(link6, renew_a, timeout=NO_REPLY_WAIT)
    assert heard == [], (
        "a RENEW whose Server Identifier is the (dead) primary's was answered; RFC 8415 section 16.6 "
        f"says discard: {[(names.get(h.server_duid), h.msg.summary()) for h in heard]}"
    )
    # A's REBIND (no Server Identifier): the standby answers with the lease it holds.
    rebind_a = a.msg(d6.DHCP6_Rebind, address=ga.address, prefix=ga.prefix)
    heard = ask_one(link6, rebind_a)
    assert [h.server_duid for h in heard] == [duid2], f"REBIND answered by {[names.get(h.server_duid) for h in heard]}"
    g = granted(a, heard[0])
    assert (g.address, g.prefix) == (ga.address, ga.prefix), f"REBIND: {ga} became {g}"
    assert (g.na_valid, g.pd_valid) == (VALID, VALID), g
    during[a.mac] = (a, g)

    # B's RENEW addressed to the standby: the same lease, renewed (no NoBinding: it is held).
    renew_b = b.msg(d6.DHCP6_Renew, server=duid2, address=gb.address, prefix=gb.prefix)
    heard = ask_one(link6, renew_b)
    assert [h.server_duid for h in heard] == [duid2], f"RENEW answered by {[names.get(h.server_duid) for h in heard]}"
    g = granted(b, heard[0])
    assert (g.address, g.prefix) == (gb.address, gb.prefix), f"RENEW: {gb} became {g}"
    assert (g.na_valid, g.pd_valid) == (VALID, VALID), g
    during[b.mac] = (b, g)

    # A new client hinting at D's address and prefix (held, D is not renewing): something else.
    new = Client6(client_mac(0x65, 0))
    sol = new.msg(d6.DHCP6_Solicit, address=gd.address, prefix=gd.prefix)
    advs = link6.ask([sol], {ADVERTISE})[sol.trid]
    assert [h.server_duid for h in advs] == [duid2], f"new client's ADVERTISE from {[names.get(h.server_duid) for h in advs]}"
    addr, pfx = offered(advs[0])
    assert (addr, pfx) != (None, None), f"the ADVERTISE offers nothing: {advs[0].msg.summary()}"
    req = new.msg(d6.DHCP6_Request, server=duid2, address=addr, prefix=pfx)
    heard = ask_one(link6, req)
    assert [h.server_duid for h in heard] == [duid2], f"new client's REPLY from {[names.get(h.server_duid) for h in heard]}"
    g = granted(new, heard[0])
    assert (g.na_valid, g.pd_valid) == (VALID, VALID), g
    others = lease6_view(lease6_rows(s1)) | lease6_view(lease6_rows(s2))
    taken = {k: v[0] for k, v in others.items() if v[0] != new.duid_text}
    assert (TYPE_NA, str(ipaddress.ip_address(g.address))) not in taken, f"{g.address} is held by {taken}"
    assert (TYPE_PD, str(ipaddress.ip_address(g.prefix))) not in taken, f"{g.prefix}/56 is held by {taken}"
    assert g.address not in {x.address for _, x in before.values()} and g.prefix not in {x.prefix for _, x in before.values()}
    during[new.mac] = (new, g)

    # The standby's file binds every lease: the renewed ones with their new expiry.
    v2 = lease6_view(lease6_rows(s2))
    want = expected_held(before) | expected_held(during)
    assert held(v2) == want, f"the standby's leases6.csv: {view_diff(held(v2), want)}"
    return Failover(s1, s2, duid1, duid2, names, before, during, new, v)


def test_failover_kill9_primary_standby_serves_dhcp6_clients_with_held_leases(ha_servers, v6_topo, link6, tmp_path):
    """kill -9 of the hot-standby primary: the standby reaches partner-down, answers a client
    the primary leased with the SAME address and prefix (a REBIND, and a RENEW addressed to it;
    a RENEW still addressed to the primary is discarded as RFC 8415 section 16.6 says), and a
    new client gets an address and a prefix no other client holds."""
    f = _failover(ha_servers, v6_topo, link6, tmp_path)
    assert not f.s1.running() and f.s2.running()
    assert f.s2.state() == "partner-down"


def test_recovery_primary_syncs_dhcp6_leases_granted_while_it_was_down(ha_servers, v6_topo, link6, tmp_path):
    """After the failover, the primary restarts on its state directory: waiting -> syncing ->
    ready -> hot-standby; the leases the standby granted and renewed alone are then in the
    primary's leases6.csv (lease6-get-page), both files agree, the primary keeps its DUID and
    answers the clients again (the standby none)."""
    f = _failover(ha_servers, v6_topo, link6, tmp_path)
    s1, s2 = f.s1, f.s2
    before_restart = lease6_view(lease6_rows(s1))
    assert (TYPE_NA, str(ipaddress.ip_address(f.during[f.new_client.mac][1].address))) not in before_restart

    poller = StatePoller(s1.ns, s1.url).start()
    t0 = time.monotonic()
    s1.start()
    took = wait_pair(s1, s2, HS, timeout=PAIR_UP)
    wait_for(lambda: poller.states()[-1:] == [HS], timeout=5, what="the poller saw hot-standby")
    seen = poller.stop()
    print(f"primary back in hot-standby {time.monotonic() - t0:.2f}s after its restart began "
          f"({took:.2f}s after READY); states seen: {seen}")  # fmt: skip
    assert_path(seen, ["waiting", "syncing", "ready", HS], "the returning primary")
    assert server_duid(s1) == f.duid1, "the primary's DUID changed across its restart"

    v = assert_files_agree(s1, s2, "after the recovery")
    want = expected_held(f.before) | expected_held(f.during)
    assert held(v) == want, f"after the recovery: {view_diff(held(v), want)}"
    # The renewals' later expiry reached the primary, not only the addresses it had already.
    for mac in (m for m in f.during if m in f.before):
        _, g = f.during[mac]
        for key in ((TYPE_NA, str(ipaddress.ip_address(g.address))), (TYPE_PD, str(ipaddress.ip_address(g.prefix)))):
            assert v[key][4] > f.view_at_kill[key][4], (
                f"{mac} {key}: the primary holds expiry {v[key][4]}, not later than before the kill "
                f"({f.view_at_kill[key][4]})"
            )

    # Serving again: a new client is answered by the primary alone, with nothing held by another.
    later = clients6(0x66, 2)
    got = sarr_all(link6, later)
    grants = assert_answered_only_by(got, {c.mac: f.duid1 for c in later}, f.names, "after the recovery")
    for _, g in grants.values():
        assert (TYPE_NA, str(ipaddress.ip_address(g.address))) not in v, f"{g.address} was already held"
        assert (TYPE_PD, str(ipaddress.ip_address(g.prefix))) not in v, f"{g.prefix} was already held"
    v = assert_files_agree(s1, s2, "after the recovery and two new clients")
    assert held(v) == want | expected_held(grants)
