"""DHCPv6 configuration edited over NETCONF and committed live: the running DHCPv6 server
answers with the new configuration at once; a commit whose prepare fails (a DHCPv6 interface
that does not exist) changes nothing; an edit the semantic checks refuse names its path.
"""

from __future__ import annotations

import pytest
from scapy.layers import dhcp6 as d6

from configs6 import DNS6, server6_xml, setup_ipv6, standard_dhcp6
from dhcp6_client import V6Client, opt, opts
from netconf_tools import d_path, nc_env_factory, ndhcp, resolve_path  # noqa: F401 (fixture)


@pytest.fixture
def env(nc_env_factory, topo):
    setup_ipv6(topo)
    return nc_env_factory(server6_xml(standard_dhcp6(topo.server_if)))


@pytest.fixture
def s(env):
    return env.connect()


@pytest.fixture
def v6(topo):
    return V6Client(topo.client, topo.client_if, topo.client_mac)


def option98(reply):
    found = [o for o in opts(reply, d6.DHCP6OptUnknown) if o.optcode == 98]
    return found[0].data if found else None


def info(v6):
    r = v6.one(v6.base(d6.DHCP6_InfoRequest))
    assert isinstance(r, d6.DHCP6_Reply), r
    return r


def test_live_commit_reaches_the_dhcpv6_server(s, v6):
    before = info(v6)
    assert option98(before) is None
    assert opt(before, d6.DHCP6OptDNSServers).dnsservers == [DNS6]
    s.edit(ndhcp(
        "<dhcpv6><option><code>98</code><format>text</format><value>live</value>"
        "<always-send>true</always-send></option></dhcpv6>"
    )).assert_ok()  # fmt: skip
    assert option98(info(v6)) is None, "a candidate edit changes nothing on the wire"
    s.commit().assert_ok()
    assert option98(info(v6)) == b"live"


def test_commit_with_missing_v6_interface_fails_and_changes_nothing(s, v6):
    s.edit(ndhcp(
        "<dhcpv6><interface>nd-missing6</interface><option><code>98</code><format>text</format>"
        "<value>never</value><always-send>true</always-send></option></dhcpv6>"
    )).assert_ok()  # fmt: skip
    e = s.commit().one_error()
    assert (e.type, e.tag) == ("application", "operation-failed"), e
    path = resolve_path(e)
    assert path.startswith(d_path("server", "dhcpv6", "interface")) and "nd-missing6" in path, e
    assert option98(info(v6)) is None, "nothing was applied"


def test_pool_outside_subnet_is_refused_with_its_path(s, v6):
    e = s.edit(ndhcp(
        "<dhcpv6><subnet><id>1</id><pool><start>2001:db8:9::1</start><end>2001:db8:9::9</end></pool>"
        "</subnet></dhcpv6>"
    )).one_error()  # fmt: skip
    assert e.tag == "invalid-value" and "not inside subnet" in (e.message or ""), e
    assert resolve_path(e).startswith(d_path("server", "dhcpv6", "subnet")), e
    s.commit().assert_ok()
    adv = v6.one(v6.base(d6.DHCP6_Solicit) / V6Client.ia_na(1))
    assert isinstance(adv, d6.DHCP6_Advertise)


def test_dhcpv6_counters_and_leases_in_the_operational_state(s, v6):
    """/server/state/dhcpv6 follows the wire: a SOLICIT/ADVERTISE/REQUEST/REPLY and an
    INFORMATION-REQUEST are counted by type, and the lease is held."""
    from dhcp6_client import server_duid_of
    from netconf_tools import leaf, wait_for

    def state():
        return s.get(filter=("subtree", ndhcp("<state><dhcpv6/></state>"))).data

    c = "d:server/d:state/d:dhcpv6/d:counters"
    assert leaf(state(), f"{c}/d:reply") == "0"
    ia = V6Client.ia_na(7)
    adv = v6.one(v6.base(d6.DHCP6_Solicit) / ia)
    assert isinstance(adv, d6.DHCP6_Advertise), adv
    rep = v6.one(v6.base(d6.DHCP6_Request, server_duid=server_duid_of(adv)) / ia)
    assert isinstance(rep, d6.DHCP6_Reply), rep
    info(v6)
    now = state()
    assert leaf(now, f"{c}/d:solicit") == "1"
    assert leaf(now, f"{c}/d:request") == "1"
    assert leaf(now, f"{c}/d:information-request") == "1"
    assert leaf(now, f"{c}/d:advertise") == "1"
    assert leaf(now, f"{c}/d:reply") == "2"
    assert leaf(now, f"{c}/d:malformed") == "0"
    # The engine stores the count on its next wake-up.
    wait_for(lambda: leaf(state(), "d:server/d:state/d:dhcpv6/d:leases") == "1", timeout=5, what="one lease held")

    # Pool use per subnet: subnet 1's range of 16 addresses has the leased one in use, its
    # /40 prefix pool of /56 prefixes none; subnet 2 (relayed) is listed with its range.
    def pool(subnet: int, kind: str, start: str) -> tuple:
        p = f"d:server/d:state/d:dhcpv6/d:subnet[d:id='{subnet}']/d:pool[d:type='{kind}'][d:start='{start}']"
        now = state()
        return tuple(leaf(now, f"{p}/d:{n}") for n in ("length", "total", "in-use", "free"))

    wait_for(lambda: pool(1, "ia-na", "2001:db8:1::100")[2] == "1", timeout=5, what="the leased address in use")
    assert pool(1, "ia-na", "2001:db8:1::100") == ("128", "16", "1", "15")
    assert pool(1, "ia-pd", "2001:db8:100::") == ("56", "65536", "0", "65536")
    assert pool(2, "ia-na", "2001:db8:2::100") == ("128", "256", "0", "256")


def test_set_lease6_repairs_an_address_and_a_prefix_the_client_then_renews(s, env, v6):
    """set-lease6 places an address lease and a delegated prefix in their subnet: both are
    listed, written to the DHCPv6 lease file, and the client holding that DUID and IAID is
    confirmed exactly those by a RENEW. Input is checked."""
    import csv

    from dhcp6_client import duid_bytes, ia_addresses, ia_prefixes
    from test_netconf_leases import leases, rpc

    duid = duid_bytes(v6.duid).hex(":")
    address, prefix = "2001:db8:1::10f", "2001:db8:1ab::"
    rpc(s, "set-lease6",
        f"<address>{address}</address><duid>{duid}</duid><iaid>41</iaid>"
        "<valid-lifetime>7200</valid-lifetime><preferred-lifetime>3600</preferred-lifetime>"
        "<hostname>fixed6</hostname>").assert_ok()  # fmt: skip
    rpc(s, "set-lease6",
        f"<type>ia-pd</type><address>{prefix}</address><prefix-length>56</prefix-length>"
        f"<duid>{duid}</duid><iaid>42</iaid>").assert_ok()  # fmt: skip

    listed = {l["address"]: l for l in leases(rpc(s, "get-leases6", f"<duid>{duid}</duid>"))}
    assert set(listed) == {address, prefix}, listed
    na, pd = listed[address], listed[prefix]
    assert (na["type"], na["iaid"], na["prefix-length"], na["valid-lifetime"], na["hostname"], na["subnet-id"]) == (
        "ia-na", "41", "128", "7200", "fixed6", "1"
    )
    assert (pd["type"], pd["iaid"], pd["prefix-length"], pd["valid-lifetime"], pd["subnet-id"]) == (
        "ia-pd", "42", "56", "4000", "1"
    ), "the prefix takes the subnet's valid lifetime"

    with open(env.daemon.state_dir / "leases6.csv", newline="") as f:
        rows = {r["address"]: r for r in csv.DictReader(f)}
    assert (rows[address]["iaid"], rows[address]["valid_lifetime"], rows[address]["pref_lifetime"]) == ("41", "7200", "3600")
    assert (rows[prefix]["prefix_len"], rows[prefix]["lease_type"]) == ("56", "2")

    from dhcp6_client import server_duid_of

    adv = v6.one(v6.base(d6.DHCP6_Solicit) / V6Client.ia_na(41) / V6Client.ia_pd(42))
    assert isinstance(adv, d6.DHCP6_Advertise), adv
    reply = v6.one(
        v6.base(d6.DHCP6_Renew, server_duid=server_duid_of(adv)) / V6Client.ia_na(41, [address])
        / V6Client.ia_pd(42, [(prefix, 56)])
    )  # fmt: skip
    assert isinstance(reply, d6.DHCP6_Reply), reply
    got_na = [a.addr for a in ia_addresses(opt(reply, d6.DHCP6OptIA_NA)) if a.validlft > 0]
    got_pd = [(p.prefix, p.plen) for p in ia_prefixes(opt(reply, d6.DHCP6OptIA_PD)) if p.validlft > 0]
    assert got_na == [address] and got_pd == [(prefix, 56)], reply.show(dump=True)

    mine = f"<duid>{duid}</duid><iaid>1</iaid>"
    e = rpc(s, "set-lease6", f"<address>2001:db8:9::1</address>{mine}").one_error()
    assert e.tag == "invalid-value" and "no configured DHCPv6 subnet" in (e.message or ""), e
    e = rpc(s, "set-lease6", f"<type>ia-pd</type><address>2001:db8:1ab::</address>{mine}").one_error()
    assert e.tag == "missing-element", e
    e = rpc(s, "set-lease6", f"<type>ia-pd</type><address>2001:db8:1ab::1</address><prefix-length>56</prefix-length>{mine}").one_error()
    assert e.tag == "invalid-value" and "bits set" in (e.message or ""), e
    e = rpc(s, "set-lease6", f"<address>{address}</address><iaid>1</iaid>").one_error()
    assert e.tag == "missing-element", e
    e = rpc(s, "set-lease6", f"<address>{address}</address>{mine}<valid-lifetime>0</valid-lifetime>").one_error()
    assert e.tag == "invalid-value", e


def test_a_declined_address_is_counted_in_its_pool(s, env, v6):
    """A DECLINE puts the address on probation: `declined` of its address range becomes 1 and
    the address stays in use; the prefix pool declines nothing. `rows` of lease-file6 counts
    the rows of leases6.csv."""
    from dhcp6_client import ia_addresses, server_duid_of, status_of
    from netconf_tools import NSMAP, leaf, wait_for

    def state():
        return s.get(filter=("subtree", ndhcp("<state/>"))).data

    def pool(kind: str, start: str) -> tuple:
        p = f"d:server/d:state/d:dhcpv6/d:subnet[d:id='1']/d:pool[d:type='{kind}'][d:start='{start}']"
        now = state()
        return tuple(leaf(now, f"{p}/d:{n}") for n in ("in-use", "declined", "free"))

    wait_for(lambda: pool("ia-na", "2001:db8:1::100")[0] is not None, timeout=10, what="pool use published")
    assert pool("ia-na", "2001:db8:1::100") == ("0", "0", "16")
    ias = [V6Client.ia_na(1), V6Client.ia_na(2)]
    adv = v6.one(v6.base(d6.DHCP6_Solicit) / ias[0] / ias[1])
    assert isinstance(adv, d6.DHCP6_Advertise), adv
    sid = server_duid_of(adv)
    rep = v6.one(v6.base(d6.DHCP6_Request, server_duid=sid) / ias[0] / ias[1])
    assert isinstance(rep, d6.DHCP6_Reply), rep
    declined = ia_addresses(opts(rep, d6.DHCP6OptIA_NA)[1])[0].addr
    r = v6.one(v6.base(d6.DHCP6_Decline, server_duid=sid) / V6Client.ia_na(2, [declined]))
    assert isinstance(r, d6.DHCP6_Reply) and status_of(r) in (None, 0), r
    wait_for(lambda: pool("ia-na", "2001:db8:1::100")[1] == "1", timeout=10, what="declined reaches 1")
    assert pool("ia-na", "2001:db8:1::100") == ("2", "1", "14"), "the declined address stays in use"
    assert pool("ia-pd", "2001:db8:100::")[1] == "0"
    sums = "d:server/d:state/d:dhcpv6/d:subnet[d:id='1']/d:ia-na"
    now = state()
    ranges = now.xpath("d:server/d:state/d:dhcpv6/d:subnet[d:id='1']/d:pool[d:type='ia-na']", namespaces=NSMAP)
    assert tuple(leaf(now, f"{sums}/d:{n}") for n in ("in-use", "declined")) == (
        str(sum(int(leaf(r, "d:in-use")) for r in ranges)),
        "1",
    ), "the subnet's ia-na leaves sum its address ranges"
    assert leaf(now, "d:server/d:state/d:dhcpv6/d:subnet[d:id='1']/d:ia-pd/d:declined") == "0"
    assert leaf(state(), "d:server/d:state/d:dhcpv6/d:counters/d:decline") == "1"

    file6 = env.daemon.state_dir / "leases6.csv"
    rows = file6.read_text().splitlines()[1:]
    assert any(declined in r for r in rows)
    assert leaf(state(), "d:server/d:state/d:lease-file6/d:rows") == str(len(rows))
