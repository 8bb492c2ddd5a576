"""Leases as operational state (`/server/state/dhcpv4/lease`, `/server/state/dhcpv6/lease` of
netdhcp-server) read with <get>: filters on address, subnet, hardware address, client-id and
DUID select exactly those leases; a selection larger than `max_leases_in_get` is refused with
too-big; a filter beside the lease lists returns none.

The daemon loads its leases from lease files written before it starts: LEASES4 DHCPv4 leases
(subnet 1 from 100.64.10.0, subnet 2 from 100.65.10.0, every 7th with a client-id) and
LEASES6 DHCPv6 leases (an address and a /56 prefix for each of LEASES6 / 2 DUIDs).

Configuration: netconf_tools.nc_dhcp4 with subnets 1 (100.64.0.0/16) and 2 (100.65.0.0/16).
"""

from __future__ import annotations

import csv
import ipaddress
import time

from configs import server_xml
from daemon import LEASE4_HEADER
from netconf_tools import NSMAP, leaves, nc_dhcp4, nc_env_factory, nc_subnet, ndhcp, settings_toml  # noqa: F401
from test_dhcp6_protocol import LEASE6_HEADER
from test_netconf_leases import hw

NS = "urn:netdhcp:yang:netdhcp-server"
NMDA_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
DS_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
SUBNET1 = 2000
SUBNET2 = 1000
LEASES4 = SUBNET1 + SUBNET2
FIRST1 = ipaddress.IPv4Address("100.64.10.0")
FIRST2 = ipaddress.IPv4Address("100.65.10.0")
LEASES6 = 20
V4 = "d:server/d:state/d:dhcpv4/d:lease"
V6 = "d:server/d:state/d:dhcpv6/d:lease"


def address4(i: int) -> ipaddress.IPv4Address:
    return FIRST1 + i if i < SUBNET1 else FIRST2 + (i - SUBNET1)


def client_id(i: int) -> str:
    return f"01:{hw(i)}" if i % 7 == 0 else ""


def duid(n: int) -> str:
    return f"00:03:00:01:02:00:00:00:06:{n:02x}"


def write_leases4(path, now: int):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LEASE4_HEADER)
        for i in range(LEASES4):
            subnet = 1 if i < SUBNET1 else 2
            w.writerow([address4(i), hw(i), client_id(i), 3600, now + 3600, subnet, 0, 0, f"host-{i}", 0, ""])


def write_leases6(path, now: int):
    """For each DUID n: address 2001:db8:1::1000+n (ia-na, IAID n) and prefix
    2001:db8:100:n00::/56 (ia-pd, IAID 1000+n)."""
    with open(path, "w", newline="") as f:
        f.write(LEASE6_HEADER + "\n")
        w = csv.writer(f, lineterminator="\n")
        for n in range(LEASES6 // 2):
            w.writerow([f"2001:db8:1::{0x1000 + n:x}", duid(n), 7200, now + 7200, 1, 3600, 0, n, 128,
                        0, 0, f"v6-{n}", "", 0, "", 1, 0])
            w.writerow([f"2001:db8:100:{n:x}00::", duid(n), 7200, now + 7200, 1, 3600, 2, 1000 + n, 56,
                        0, 0, "", "", 0, "", 1, 0])


def started(nc_env_factory, topo, settings: str | None = None):
    config = server_xml(dhcpv4=nc_dhcp4(topo.server_if, subnets=[
        nc_subnet(1, "100.64.0.0/16"),
        nc_subnet(2, "100.65.0.0/16", pool=("100.65.1.0", "100.65.1.99")),
    ]))
    env = nc_env_factory(config, settings=settings)
    env.daemon.stop()
    now = int(time.time())
    write_leases4(env.daemon.state_dir / "leases4.csv", now)
    write_leases6(env.daemon.state_dir / "leases6.csv", now)
    env.daemon.start()
    return env, env.connect()


def lease_filter(family: str, inner: str = "") -> str:
    return ndhcp(f"<state><{family}><lease>{inner}</lease></{family}></state>")


def get(s, filter_xml: str):
    r = s.get(filter=("subtree", filter_xml))
    assert not r.errors, r.raw[:2000]
    return r.data


def entries(data, path: str) -> list[dict]:
    return [{c.tag.split("}")[-1]: (c.text or "") for c in el} for el in data.xpath(path, namespaces=NSMAP)]


def with_low_limit(limit: int) -> str:
    return settings_toml().replace("[netconf]\n", f"[netconf]\nmax_leases_in_get = {limit}\n", 1)


def test_get_by_address_returns_that_lease_with_its_fields(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    i = 2009  # subnet 2, with a client-id
    data = get(s, lease_filter("dhcpv4", f"<address>{address4(i)}</address>"))
    found = entries(data, V4)
    assert found == [{
        "address": str(address4(i)),
        "hw-address": hw(i),
        "client-id": client_id(i),
        "subnet-id": "2",
        "valid-lifetime": "3600",
        "expire": found[0]["expire"] if found else "",
        "state": "default",
        "hostname": f"host-{i}",
    }], found
    assert not data.xpath("d:server/d:state/d:dhcpv4/d:counters", namespaces=NSMAP), "only the lease"
    assert not data.xpath(V6, namespaces=NSMAP)
    # The same lease as get-leases4 lists it.
    r = s.rpc(f'<get-leases4 xmlns="{NS}"><address>{address4(i)}</address></get-leases4>')
    listed = [{c.tag.split("}")[-1]: (c.text or "") for c in el} for el in r.root.findall(f"{{{NS}}}lease")]
    assert listed == found

    data = get(s, lease_filter("dhcpv6", "<address>2001:db8:100:300::</address>"))
    assert entries(data, V6) == [{
        "type": "ia-pd",
        "address": "2001:db8:100:300::",
        "prefix-length": "56",
        "duid": duid(3),
        "iaid": "1003",
        "preferred-lifetime": "3600",
        "subnet-id": "1",
        "valid-lifetime": "7200",
        "expire": entries(data, V6)[0]["expire"],
        "state": "default",
    }]
    # An address without a lease: no entry, no error.
    assert entries(get(s, lease_filter("dhcpv4", "<address>100.64.200.1</address>")), V4) == []

    # The same selection as an XPath filter, and selection nodes under the lease.
    r = s.get(filter=("xpath", ({"nd": NS}, f"/nd:server/nd:state/nd:dhcpv4/nd:lease[nd:address='{address4(5)}']/nd:hostname")))
    assert not r.errors, r.raw[:2000]
    assert entries(r.data, V4) == [{"address": str(address4(5)), "hostname": "host-5"}]
    # The README's netconf-console2 form.
    out = env.console("--get", "--ns", f"nd={NS}", "-x",
                      f"/nd:server/nd:state/nd:dhcpv4/nd:lease[nd:hw-address='{hw(1234)}']").stdout
    assert out.count("<lease>") == 1 and f"<address>{address4(1234)}</address>" in out, out


def test_get_selects_leases_by_subnet_client_and_duid(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    by_subnet = leaves(get(s, lease_filter("dhcpv4", "<subnet-id>2</subnet-id>")), f"{V4}/d:address")
    assert len(by_subnet) == SUBNET2 and len(set(by_subnet)) == SUBNET2
    assert all(ipaddress.IPv4Address(a) in ipaddress.IPv4Network("100.65.0.0/16") for a in by_subnet)
    assert len(leaves(get(s, lease_filter("dhcpv4", "<subnet-id>1</subnet-id>")), f"{V4}/d:address")) == SUBNET1
    assert leaves(get(s, lease_filter("dhcpv4", "<subnet-id>9</subnet-id>")), f"{V4}/d:address") == []

    assert leaves(get(s, lease_filter("dhcpv4", f"<hw-address>{hw(1234)}</hw-address>")), f"{V4}/d:address") == [
        str(address4(1234))
    ]
    assert leaves(get(s, lease_filter("dhcpv4", f"<client-id>{client_id(14)}</client-id>")), f"{V4}/d:address") == [
        str(address4(14))
    ]
    # Two content matches together: hw-address of a subnet-1 lease in subnet 2 is no lease.
    both = lease_filter("dhcpv4", f"<subnet-id>2</subnet-id><hw-address>{hw(5)}</hw-address>")
    assert leaves(get(s, both), f"{V4}/d:address") == []
    # A selection node under the lease returns only that leaf (and the key).
    data = get(s, lease_filter("dhcpv4", "<subnet-id>2</subnet-id><hostname/>"))
    first = entries(data, V4)[0]
    assert set(first) == {"address", "subnet-id", "hostname"}, first

    by_duid = entries(get(s, lease_filter("dhcpv6", f"<duid>{duid(4)}</duid>")), V6)
    assert sorted((l["type"], l["address"], l["iaid"]) for l in by_duid) == [
        ("ia-na", "2001:db8:1::1004", "4"),
        ("ia-pd", "2001:db8:100:400::", "1004"),
    ]
    prefixes = entries(get(s, lease_filter("dhcpv6", "<type>ia-pd</type>")), V6)
    assert len(prefixes) == LEASES6 // 2 and {l["prefix-length"] for l in prefixes} == {"56"}

    # No filter: every lease of both families (fewer than the default max_leases_in_get).
    everything = s.get().data
    assert len(everything.xpath(V4, namespaces=NSMAP)) == LEASES4
    assert len(everything.xpath(V6, namespaces=NSMAP)) == LEASES6


def test_a_filter_beside_the_lease_lists_returns_no_lease(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo, settings=with_low_limit(10))
    data = get(s, ndhcp("<state><dhcpv4><counters/><leases/></dhcpv4><dhcpv6><counters/></dhcpv6></state>"))
    assert data.xpath("d:server/d:state/d:dhcpv4/d:counters/d:ack", namespaces=NSMAP)
    assert leaves(data, "d:server/d:state/d:dhcpv4/d:leases") == [str(LEASES4)]
    assert not data.xpath(V4, namespaces=NSMAP) and not data.xpath(V6, namespaces=NSMAP)
    # The limit does not apply to what selects no lease, whatever the number of leases.
    mon = s.get(filter=("subtree", '<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><sessions/></netconf-state>'))
    assert not mon.errors and mon.data.xpath("mon:netconf-state/mon:sessions/mon:session", namespaces=NSMAP)


def test_a_selection_above_max_leases_in_get_is_too_big(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo, settings=with_low_limit(100))
    for what, f in [
        ("no filter", None),
        ("all of /server/state", ("subtree", ndhcp("<state/>"))),
        ("a subnet of 1000 leases", ("subtree", lease_filter("dhcpv4", "<subnet-id>2</subnet-id>"))),
        ("the DHCPv4 container", ("xpath", ({"nd": NS}, "/nd:server/nd:state/nd:dhcpv4"))),
    ]:
        e = s.get(filter=f).one_error()
        assert (e.type, e.tag) == ("application", "too-big"), (what, e)
        for needle in ("100", "max_leases_in_get", "get-leases4", "get-leases6"):
            assert needle in (e.message or ""), (what, e.message)
    # Below the limit: the DHCPv6 list (20 leases) and one address.
    assert len(entries(get(s, ndhcp("<state><dhcpv6/></state>")), V6)) == LEASES6
    assert len(entries(get(s, lease_filter("dhcpv4", f"<address>{address4(3)}</address>")), V4)) == 1
    # The paged RPC still walks them all.
    r = s.rpc(f'<get-leases4 xmlns="{NS}"><subnet-id>2</subnet-id><limit>5000</limit></get-leases4>')
    assert len(r.root.findall(f"{{{NS}}}lease")) == SUBNET2


def test_get_data_of_operational_reads_the_same_leases(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    inner = f"<state><dhcpv4><lease><hw-address>{hw(7)}</hw-address></lease></dhcpv4></state>"
    r = s.rpc(
        f'<get-data xmlns="{NMDA_NS}" xmlns:ds="{DS_NS}"><datastore>ds:operational</datastore>'
        f'<subtree-filter><server xmlns="{NS}">{inner}</server></subtree-filter></get-data>'
    )
    assert not r.errors, r.raw[:2000]
    data = r.root.find(f"{{{NMDA_NS}}}data")
    assert data is not None, r.raw[:2000]
    assert [l["client-id"] for l in entries(data, V4)] == [client_id(7)]


def test_leases_a_user_may_not_read_are_neither_returned_nor_counted(nc_env_factory, topo):
    """Access control prunes leases like any state; a list the user may not read is not read
    from the engine at all, so its size cannot make that user's get too-big."""
    from netconf_tools import BASE_NS, PASSWORD, USER

    acm = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
    noc, noc_pw = "noc", "noc-test-Secret-2"
    settings = settings_toml(users=[(USER, PASSWORD), (noc, noc_pw)]).replace(
        "[netconf]\n", "[netconf]\nmax_leases_in_get = 100\n", 1
    ) + f'\n[nacm.groups]\nadmin = ["{USER}"]\noperator = ["{noc}"]\n'
    env, admin = started(nc_env_factory, topo, settings=settings)
    admin.edit_commit(
        f'<nacm xmlns="{acm}" xmlns:nc="{BASE_NS}"><rule-list><name>operator</name>'
        '<rule nc:operation="delete"><name>read-all</name></rule>'
        f'<rule><name>hide-v4-leases</name><module-name>netdhcp-server</module-name><path xmlns:d="{NS}">/d:server/d:state/d:dhcpv4/d:lease</path>'
        "<access-operations>read</access-operations><action>deny</action></rule>"
        "<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>"
        "</rule-list></nacm>"
    )
    operator = env.connect(user=noc, password=noc_pw)
    # 3000 DHCPv4 leases hidden, 20 DHCPv6 leases readable: under the limit of 100.
    r = operator.get()
    assert not r.errors, r.raw[:2000]
    assert not r.data.xpath(V4, namespaces=NSMAP)
    assert len(r.data.xpath(V6, namespaces=NSMAP)) == LEASES6
    assert leaves(r.data, "d:server/d:state/d:dhcpv4/d:leases") == [str(LEASES4)], "the rest of the state is there"
    one = lease_filter("dhcpv4", f"<address>{address4(3)}</address>")
    assert not operator.get(filter=("subtree", one)).data.xpath(V4, namespaces=NSMAP)
    # The administrator reads them all, so the same get is too big for it.
    assert admin.get().one_error().tag == "too-big"
    assert len(entries(get(admin, one), V4)) == 1
