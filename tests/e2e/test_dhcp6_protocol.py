"""DHCPv6 protocol behaviour of netdhcpd (RFC 8415, RFC 3646), seen on the wire from a client
namespace with scapy-built messages, plus the lease file it leaves (Kea 2.2 kea-leases6.csv).

The configuration is configs6.standard_dhcp6 (see there). The client end has only its
link-local address unless a test acts as a relay (then it also has 2001:db8:1::2/64).
"""

from __future__ import annotations

import csv
import ipaddress

import pytest
from scapy.layers import dhcp6 as d6

from configs6 import (
    DNS6,
    INTERFACE_ID,
    POOL6,
    RELAY6,
    RESERVED_ADDR,
    RESERVED_DUID,
    RESERVED_PREFIX,
    SERVER6,
    link_local,
    server6_xml,
    setup_ipv6,
    standard_dhcp6,
    standard_subnets6,
)
from dhcp6_client import (
    V6Client,
    ia_addresses,
    ia_prefixes,
    opt,
    opts,
    relay_forw,
    server_duid_of,
    status_of,
    unwrap,
)

LEASE6_HEADER = (
    "address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,"
    "fqdn_fwd,fqdn_rev,hostname,hwaddr,state,user_context,hwtype,hwaddr_source"
)
NO_REPLY_WAIT = 1.5
ST_SUCCESS, ST_NOADDRS, ST_NOBINDING, ST_NOTONLINK, ST_USEMULTICAST, ST_NOPREFIX = 0, 2, 3, 4, 5, 6


def lease6_rows(daemon) -> list[dict]:
    path = daemon.state_dir / "leases6.csv"
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def last_row(daemon, address: str) -> dict | None:
    rows = [r for r in lease6_rows(daemon) if r["address"] == address]
    return rows[-1] if rows else None


def duid_hex(client: V6Client) -> str:
    return bytes(client.duid).hex(":")


@pytest.fixture
def v6(topo):
    setup_ipv6(topo)
    return V6Client(topo.client, topo.client_if, topo.client_mac)


@pytest.fixture
def std6(start_daemon, topo, v6):
    return start_daemon(server6_xml(standard_dhcp6(topo.server_if)))


def solicit(c: V6Client, *ias, rapid=False, oro=None, duid=None):
    m = c.base(d6.DHCP6_Solicit, duid=duid)
    if oro is not None:
        m = m / d6.DHCP6OptOptReq(reqopts=oro)
    for ia in ias:
        m = m / ia
    if rapid:
        m = m / d6.DHCP6OptRapidCommit()
    return m


def with_ias(m, *ias):
    for ia in ias:
        m = m / ia
    return m


def assert_reply(r, kind, c: V6Client, trid=None):
    assert r is not None, f"no {kind.__name__}"
    assert isinstance(r, kind), f"expected {kind.__name__}, got {r.summary()}"
    cid = opt(r, d6.DHCP6OptClientId)
    assert cid is not None and bytes(cid.duid) == bytes(c.duid), "Client Identifier echoed"
    assert opt(r, d6.DHCP6OptServerId) is not None
    if trid is not None:
        assert r.trid == trid


def lease_with(c: V6Client, *ias, duid=None):
    """SOLICIT, ADVERTISE, REQUEST, REPLY; returns (reply, server duid)."""
    adv = c.one(solicit(c, *ias, duid=duid))
    assert isinstance(adv, d6.DHCP6_Advertise), adv
    req = with_ias(c.base(d6.DHCP6_Request, duid=duid, server_duid=server_duid_of(adv)), *ias)
    rep = c.one(req)
    assert isinstance(rep, d6.DHCP6_Reply), rep
    return rep, server_duid_of(adv)


# ---------------------------------------------------------------- SOLICIT / REQUEST


def test_solicit_advertise_request_reply_and_lease_row(std6, v6):
    s = solicit(v6, V6Client.ia_na(1), oro=[23, 24])
    adv = v6.one(s)
    assert_reply(adv, d6.DHCP6_Advertise, v6, trid=s.trid)
    ia = opt(adv, d6.DHCP6OptIA_NA)
    assert ia.iaid == 1 and (ia.T1, ia.T2) == (1000, 2000)
    [addr] = ia_addresses(ia)
    assert addr.addr in POOL6
    assert (addr.preflft, addr.validlft) == (3000, 4000)
    assert opt(adv, d6.DHCP6OptDNSServers).dnsservers == [DNS6]
    assert opt(adv, d6.DHCP6OptDNSDomains) is not None
    assert not (std6.state_dir / "leases6.csv").read_text().strip().split("\n")[1:], "ADVERTISE writes no lease"

    req = with_ias(v6.base(d6.DHCP6_Request, server_duid=server_duid_of(adv)), V6Client.ia_na(1, [addr.addr]))
    rep = v6.one(req)
    assert_reply(rep, d6.DHCP6_Reply, v6, trid=req.trid)
    [got] = ia_addresses(opt(rep, d6.DHCP6OptIA_NA))
    assert got.addr == addr.addr and got.validlft == 4000

    text = (std6.state_dir / "leases6.csv").read_text()
    assert text.split("\n")[0] == LEASE6_HEADER
    row = last_row(std6, addr.addr)
    assert row is not None, text
    assert row["duid"] == duid_hex(v6)
    assert (row["valid_lifetime"], row["pref_lifetime"], row["subnet_id"]) == ("4000", "3000", "1")
    assert (row["lease_type"], row["iaid"], row["prefix_len"], row["state"]) == ("0", "1", "128", "0")


def test_several_ias_and_prefix_delegation(std6, v6):
    rep, _ = lease_with(v6, V6Client.ia_na(1), V6Client.ia_na(2), V6Client.ia_pd(3, [("::", 56)]))
    nas = opts(rep, d6.DHCP6OptIA_NA)
    assert sorted(i.iaid for i in nas) == [1, 2]
    a1, a2 = (ia_addresses(i)[0].addr for i in nas)
    assert a1 != a2 and {a1, a2} <= set(POOL6)
    pd = opt(rep, d6.DHCP6OptIA_PD)
    [p] = ia_prefixes(pd)
    assert p.plen == 56
    assert ipaddress.ip_network(f"{p.prefix}/56").subnet_of(ipaddress.ip_network("2001:db8:100::/40"))
    row = last_row(std6, p.prefix)
    assert (row["lease_type"], row["prefix_len"], row["iaid"]) == ("2", "56", "3")


def test_rapid_commit_where_enabled(start_daemon, topo, v6):
    daemon = start_daemon(server6_xml(standard_dhcp6(topo.server_if, **{"rapid-commit": True})))
    rep = v6.one(solicit(v6, V6Client.ia_na(1), rapid=True))
    assert_reply(rep, d6.DHCP6_Reply, v6)
    assert opt(rep, d6.DHCP6OptRapidCommit) is not None
    [a] = ia_addresses(opt(rep, d6.DHCP6OptIA_NA))
    assert last_row(daemon, a.addr) is not None, "a rapid-commit REPLY leaves only after its lease is written"
    # Without the option in the SOLICIT, the usual ADVERTISE.
    adv = v6.one(solicit(v6, V6Client.ia_na(5)))
    assert isinstance(adv, d6.DHCP6_Advertise)


def test_rapid_commit_ignored_where_disabled(std6, v6):
    adv = v6.one(solicit(v6, V6Client.ia_na(1), rapid=True))
    assert isinstance(adv, d6.DHCP6_Advertise)
    assert opt(adv, d6.DHCP6OptRapidCommit) is None


def test_exhausted_pools_say_no_addrs_and_no_prefix(start_daemon, topo, v6):
    subnets = standard_subnets6(
        topo.server_if,
        pool=[{"start": "2001:db8:1::100", "end": "2001:db8:1::100"}],
        **{"pd-pool": [{"prefix": "2001:db8:100::/56", "delegated-length": 56}]},
    )
    start_daemon(server6_xml(standard_dhcp6(topo.server_if, subnets=subnets)))
    lease_with(v6, V6Client.ia_na(1), V6Client.ia_pd(2))
    other = V6Client(topo.client, topo.client_if, "02:00:00:00:66:01")
    adv = other.one(solicit(other, V6Client.ia_na(1), V6Client.ia_pd(2)))
    assert isinstance(adv, d6.DHCP6_Advertise)
    na, pd = opt(adv, d6.DHCP6OptIA_NA), opt(adv, d6.DHCP6OptIA_PD)
    assert status_of(na) == ST_NOADDRS and not ia_addresses(na)
    assert status_of(pd) == ST_NOPREFIX and not ia_prefixes(pd)


# ---------------------------------------------------------------- RENEW / REBIND / RELEASE / DECLINE


def test_renew_and_rebind_extend_and_unknown_ia_has_no_binding(std6, v6):
    rep, sid = lease_with(v6, V6Client.ia_na(1))
    a = ia_addresses(opt(rep, d6.DHCP6OptIA_NA))[0].addr
    before = len([r for r in lease6_rows(std6) if r["address"] == a])
    renew = with_ias(v6.base(d6.DHCP6_Renew, server_duid=sid), V6Client.ia_na(1, [a]), V6Client.ia_na(9, ["2001:db8:1::10a"]))
    r = v6.one(renew)
    assert_reply(r, d6.DHCP6_Reply, v6)
    ias = {i.iaid: i for i in opts(r, d6.DHCP6OptIA_NA)}
    assert ia_addresses(ias[1])[0].addr == a and ia_addresses(ias[1])[0].validlft == 4000
    assert status_of(ias[9]) == ST_NOBINDING
    assert len([r for r in lease6_rows(std6) if r["address"] == a]) == before + 1, "a renewal appends one row"

    rebind = with_ias(v6.base(d6.DHCP6_Rebind), V6Client.ia_na(1, [a]))
    r = v6.one(rebind)
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert ia_addresses(opt(r, d6.DHCP6OptIA_NA))[0].validlft == 4000
    # REBIND for an address of another link: zero lifetimes.
    r = v6.one(with_ias(v6.base(d6.DHCP6_Rebind), V6Client.ia_na(7, ["2001:db8:9::1"])))
    [z] = ia_addresses(opt(r, d6.DHCP6OptIA_NA))
    assert (z.preflft, z.validlft) == (0, 0)


def test_release_and_decline(std6, v6):
    rep, sid = lease_with(v6, V6Client.ia_na(1), V6Client.ia_na(2))
    a1, a2 = (ia_addresses(i)[0].addr for i in opts(rep, d6.DHCP6OptIA_NA))
    r = v6.one(with_ias(v6.base(d6.DHCP6_Release, server_duid=sid), V6Client.ia_na(1, [a1])))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert status_of(r) == ST_SUCCESS
    assert last_row(std6, a1)["valid_lifetime"] == "0", "a release writes the deletion row"
    r = v6.one(with_ias(v6.base(d6.DHCP6_Release, server_duid=sid), V6Client.ia_na(1, [a1])))
    assert status_of(opt(r, d6.DHCP6OptIA_NA)) == ST_NOBINDING, "released twice: no binding"

    r = v6.one(with_ias(v6.base(d6.DHCP6_Decline, server_duid=sid), V6Client.ia_na(2, [a2])))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert status_of(r) == ST_SUCCESS
    row = last_row(std6, a2)
    assert row["state"] == "1", row
    # Another client asking for both: the released address is free again, the declined one
    # is kept out of use (it gets another address instead).
    other = V6Client(v6.ns, v6.iface, "02:00:00:00:66:02")
    rep, _ = lease_with(other, V6Client.ia_na(1, [a1]), V6Client.ia_na(2, [a2]))
    got = {i.iaid: ia_addresses(i)[0].addr for i in opts(rep, d6.DHCP6OptIA_NA)}
    assert got[1] == a1, got
    assert got[2] != a2 and got[2] in POOL6, got


def test_confirm_on_link_and_not_on_link(std6, v6):
    r = v6.one(with_ias(v6.base(d6.DHCP6_Confirm), V6Client.ia_na(1, ["2001:db8:1::abc"])))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert status_of(r) == ST_SUCCESS
    r = v6.one(with_ias(v6.base(d6.DHCP6_Confirm), V6Client.ia_na(1, ["2001:db8:1::abc", "2001:db8:77::1"])))
    assert status_of(r) == ST_NOTONLINK
    assert opt(r, d6.DHCP6OptIA_NA) is None


def test_information_request_honours_the_oro(std6, v6):
    r = v6.one(v6.base(d6.DHCP6_InfoRequest))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert opt(r, d6.DHCP6OptDNSServers).dnsservers == [DNS6]
    assert not [o for o in opts(r, d6.DHCP6OptUnknown) if o.optcode == 99], "option 99 only when asked for"
    r = v6.one(v6.base(d6.DHCP6_InfoRequest) / d6.DHCP6OptOptReq(reqopts=[99]))
    custom = [o for o in opts(r, d6.DHCP6OptUnknown) if o.optcode == 99]
    assert custom and custom[0].data == b"hello"
    assert opt(r, d6.DHCP6OptIA_NA) is None


def test_unicast_request_gets_use_multicast(std6, v6, topo):
    adv = v6.one(solicit(v6, V6Client.ia_na(1)))
    req = with_ias(v6.base(d6.DHCP6_Request, server_duid=server_duid_of(adv)), V6Client.ia_na(1))
    r = v6.one(req, dst=link_local(topo.server, topo.server_if))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert status_of(r) == ST_USEMULTICAST
    assert opt(r, d6.DHCP6OptIA_NA) is None
    assert not lease6_rows(std6), "nothing leased"


def test_request_for_another_server_is_ignored(std6, v6):
    other = d6.DUID_LLT(lladdr="02:00:00:00:99:99", timeval=1)
    r = v6.one(with_ias(v6.base(d6.DHCP6_Request, server_duid=other), V6Client.ia_na(1)), timeout=NO_REPLY_WAIT)
    assert r is None


# ---------------------------------------------------------------- reservations, relays


def test_reservation_by_duid_gives_address_and_prefix(std6, v6):
    duid = d6.DUID_LL(bytes.fromhex(RESERVED_DUID.replace(":", "")))
    rep, _ = lease_with(v6, V6Client.ia_na(1), V6Client.ia_pd(2), duid=duid)
    assert ia_addresses(opt(rep, d6.DHCP6OptIA_NA))[0].addr == RESERVED_ADDR
    p = ia_prefixes(opt(rep, d6.DHCP6OptIA_PD))[0]
    assert (p.prefix, p.plen) == RESERVED_PREFIX
    # Another client asking for the reserved address gets a pool address.
    rep, _ = lease_with(v6, V6Client.ia_na(1, [RESERVED_ADDR]))
    assert ia_addresses(opt(rep, d6.DHCP6OptIA_NA))[0].addr in POOL6


@pytest.fixture
def relay6(start_daemon, topo):
    setup_ipv6(topo, client_global=f"{RELAY6}/64")
    start_daemon(server6_xml(standard_dhcp6(topo.server_if)))
    return V6Client(topo.client, topo.client_if, topo.client_mac)


def test_relayed_by_link_address(relay6):
    inner = solicit(relay6, V6Client.ia_na(1))
    fwd = relay_forw(bytes(inner), link="2001:db8:3::1", peer="fe80::1234")
    replies = relay6.exchange([fwd], dst=SERVER6, bind=(RELAY6, 547))
    assert replies, "no RELAY-REPL"
    assert (replies[0]["src"], replies[0]["sport"]) == (SERVER6, 547)
    outer = replies[0]["msg"]
    assert isinstance(outer, d6.DHCP6_RelayReply)
    assert (outer.linkaddr, outer.peeraddr) == ("2001:db8:3::1", "fe80::1234")
    msg, layers = unwrap(outer)
    assert len(layers) == 1
    assert isinstance(msg, d6.DHCP6_Advertise) and msg.trid == inner.trid
    a = ia_addresses(opt(msg, d6.DHCP6OptIA_NA))[0].addr
    assert ipaddress.ip_address(a) in ipaddress.ip_network("2001:db8:3::/64")


def test_nested_relays_select_by_interface_id_and_echo_it(relay6):
    inner = solicit(relay6, V6Client.ia_na(1), rapid=True)
    first = relay_forw(bytes(inner), link="::", peer="fe80::1", interface_id=INTERFACE_ID)
    second = relay_forw(first, link="2001:db8:3::1", peer="2001:db8:3::9", hops=1)
    replies = relay6.exchange([second], dst=SERVER6, bind=(RELAY6, 547))
    assert replies, "no RELAY-REPL"
    msg, layers = unwrap(replies[0]["msg"])
    assert len(layers) == 2
    assert layers[0].hopcount == 1 and layers[0].peeraddr == "2001:db8:3::9"
    assert opt(layers[0], d6.DHCP6OptIfaceId) is None, "the outer relay sent no interface-id"
    assert opt(layers[1], d6.DHCP6OptIfaceId).ifaceid == INTERFACE_ID, "interface-id echoed"
    assert layers[1].peeraddr == "fe80::1"
    # The interface-id names subnet 2, which has rapid commit.
    assert isinstance(msg, d6.DHCP6_Reply)
    assert opt(msg, d6.DHCP6OptRapidCommit) is not None
    a = ia_addresses(opt(msg, d6.DHCP6OptIA_NA))[0].addr
    assert ipaddress.ip_address(a) in ipaddress.ip_network("2001:db8:2::/64")


def test_relay_for_an_unknown_link_is_ignored(relay6):
    fwd = relay_forw(bytes(solicit(relay6, V6Client.ia_na(1))), link="2001:db8:77::1", peer="fe80::1")
    assert not relay6.exchange([fwd], dst=SERVER6, bind=(RELAY6, 547), timeout=NO_REPLY_WAIT)


# ---------------------------------------------------------------- robustness, restarts


def malformed(c: V6Client) -> list[bytes]:
    good = bytes(solicit(c, V6Client.ia_na(1)))
    relay_no_msg = bytes([12, 0]) + bytes(32)
    deep = good
    for _ in range(40):
        deep = bytes([12, 0]) + bytes(32) + (9).to_bytes(2, "big") + len(deep).to_bytes(2, "big") + deep
    return [
        b"",
        b"\x01",
        good[:-1],  # last option cut short
        good[:6],  # option header cut
        good + b"\x00\x01\x00\x05ab",  # option length past the end
        good + b"\x00\x01\x00\x02\x00\x03",  # second Client Identifier
        bytes([1, 0, 0, 1]) + b"\x00\x08\x00\x01\x00",  # elapsed time of 1 byte
        bytes([1, 0, 0, 1]) + b"\x00\x03\x00\x04\x00\x00\x00\x01",  # IA_NA shorter than 12
        relay_no_msg,
        deep,  # relay nesting past the limit
        bytes([13]) + bytes(33),  # RELAY-REPL from a "client"
        bytes([2, 1, 2, 3]),  # ADVERTISE from a "client"
        bytes(range(256)) * 4,
    ]


def test_malformed_messages_get_no_reply_and_the_server_lives(std6, v6):
    replies = v6.exchange(malformed(v6), expect=1, timeout=NO_REPLY_WAIT)
    assert replies == [], [r["msg"].summary() for r in replies]
    std6.assert_running()
    adv = v6.one(solicit(v6, V6Client.ia_na(1)))
    assert isinstance(adv, d6.DHCP6_Advertise), "still serving after the malformed burst"


def test_duid_and_leases_survive_a_restart(std6, v6):
    rep, sid = lease_with(v6, V6Client.ia_na(1))
    a = ia_addresses(opt(rep, d6.DHCP6OptIA_NA))[0].addr
    duid_file = (std6.state_dir / "dhcp6-server-duid").read_text()
    std6.restart()
    assert (std6.state_dir / "dhcp6-server-duid").read_text() == duid_file
    r = v6.one(with_ias(v6.base(d6.DHCP6_Renew, server_duid=sid), V6Client.ia_na(1, [a])))
    assert_reply(r, d6.DHCP6_Reply, v6)
    assert bytes(server_duid_of(r)) == bytes(sid), "same server DUID after restart"
    [got] = ia_addresses(opt(r, d6.DHCP6OptIA_NA))
    assert got.addr == a and got.validlft == 4000, "the lease was loaded back from leases6.csv"


def test_check_accepts_v6_and_refuses_bad_pools(tmp_path, topo, binary):
    from daemon import check_config

    good = tmp_path / "good.xml"
    good.write_text(server6_xml(standard_dhcp6("vs1")))
    p = check_config(good)
    assert p.returncode == 0, p.stdout + p.stderr
    subnets = standard_subnets6("vs1", pool=[{"start": "2001:db8:9::1", "end": "2001:db8:9::5"}])
    subnets[1]["prefix"] = "2001:db8:1::/48"  # overlaps subnet 1
    bad = tmp_path / "bad.xml"
    bad.write_text(server6_xml(standard_dhcp6("vs1", subnets=subnets)))
    p = check_config(bad)
    assert p.returncode != 0
    assert "is not inside subnet" in p.stdout + p.stderr
    assert "overlaps subnet" in p.stdout + p.stderr
