"""NMDA retrieval over NETCONF: `<get-data>` of ietf-netconf-nmda (RFC 8526) on the operational
datastore (running configuration plus state) and on running, candidate and startup, with its
filters (subtree, XPath, config-filter, max-depth), its errors, what the server advertises for
it, and access control.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99, domain-name
example.net). Users: `oper` in the group admin, `noc` in the group operator (the default policy:
reads everything but /nacm).
"""

from __future__ import annotations

from lxml import etree

from client import Dhcp4Client, mac
from netconf_tools import (  # noqa: F401
    NSMAP,
    PASSWORD,
    PRL,
    USER,
    leaf,
    nc_config,
    nc_env_factory,
    ndhcp,
    settings_toml,
)

NMDA_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
DS_NS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
ACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
D_NS = "urn:netdhcp:yang:netdhcp-server"
YANGLIB_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
NOC, NOC_PW = "noc", "noc-test-Secret-2"

SERVER = f'<server xmlns="{D_NS}"/>'
COUNTERS = "d:server/d:state/d:dhcpv4/d:counters"


def get_data(sess, datastore: str, *params: str, prefix: str = "ds"):
    """<get-data> with the datastore identity written with `prefix` bound to ietf-datastores."""
    body = "".join(params)
    return sess.rpc(
        f'<get-data xmlns="{NMDA_NS}" xmlns:{prefix}="{DS_NS}"><datastore>{prefix}:{datastore}</datastore>{body}</get-data>'
    )


def subtree(xml: str) -> str:
    return f"<subtree-filter>{xml}</subtree-filter>"


def data_of(reply):
    """The <data> of the nmda namespace (RFC 8526: get-data's output)."""
    assert not reply.errors, reply.raw
    d = reply.root.find(f"{{{NMDA_NS}}}data")
    assert d is not None, f"no nmda <data> in {reply.raw[:2000]}"
    return d


def canonical(el) -> list[bytes]:
    """The children of a <data> element, canonical XML (namespace prefixes as written)."""
    return sorted(etree.tostring(c, method="c14n") for c in el)


def test_operational_serves_state_and_configuration(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    ack = Dhcp4Client(topo.client, topo.client_if).lease(mac=mac(1), prl=PRL)
    assert ack.yiaddr.startswith("100.64.1.")

    # The prefix is the client's choice: resolved by its namespace.
    for prefix in ("ds", "x"):
        oper = data_of(get_data(s, "operational", subtree(SERVER), prefix=prefix))
        assert leaf(oper, f"{COUNTERS}/d:ack") == "1"
        assert leaf(oper, f"{COUNTERS}/d:discover") == "1"
        assert leaf(oper, "d:server/d:state/d:lease-file/d:path").endswith("leases4.csv")
        assert leaf(oper, "d:server/d:dhcpv4/d:domain-name") == "example.net"
        assert leaf(oper, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:prefix") == "100.64.0.0/16"
        # Only what the filter selects: no YANG library, no NETCONF monitoring.
        assert [etree.QName(c).localname for c in oper] == ["server"]

    # The same configuration as get, and the same state leaves.
    got = s.get(filter=("subtree", SERVER)).data
    assert leaf(got, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    assert leaf(got, f"{COUNTERS}/d:ack") == "1"

    # config-filter false: state only, with the containers that hold it.
    state = data_of(get_data(s, "operational", subtree(SERVER), "<config-filter>false</config-filter>"))
    assert leaf(state, f"{COUNTERS}/d:ack") == "1"
    assert leaf(state, "d:server/d:dhcpv4/d:domain-name") is None
    assert state.xpath("d:server/d:dhcpv4", namespaces=NSMAP) == []
    # config-filter true: configuration only.
    config = data_of(get_data(s, "operational", subtree(SERVER), "<config-filter>true</config-filter>"))
    assert leaf(config, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    assert config.xpath("d:server/d:state", namespaces=NSMAP) == []

    # An XPath filter, prefixes declared on <xpath-filter>.
    xp = data_of(get_data(s, "operational", f'<xpath-filter xmlns:n="{D_NS}">/n:server/n:state/n:dhcpv4/n:counters/n:ack</xpath-filter>'))
    assert leaf(xp, f"{COUNTERS}/d:ack") == "1"
    assert leaf(xp, f"{COUNTERS}/d:discover") is None

    # Without a filter: everything get shows, the YANG library among it.
    whole = data_of(get_data(s, "operational"))
    names = {etree.QName(c).localname for c in whole}
    assert {"server", "yang-library", "netconf-state", "nacm"} <= names, names


def test_conventional_datastores(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    # ds:running is exactly get-config running.
    running = data_of(get_data(s, "running"))
    assert canonical(running) == canonical(s.config_data("running"))
    assert leaf(running, "d:server/d:state/d:version") is None, "no state in running"
    # A conventional datastore has no state: config-filter false selects nothing.
    empty = data_of(get_data(s, "running", "<config-filter>false</config-filter>"))
    assert len(empty) == 0
    assert canonical(data_of(get_data(s, "startup"))) == canonical(s.config_data("startup"))

    # The candidate shows an edit before the commit; running and operational do not.
    s.edit(ndhcp("<dhcpv4><domain-name>edited.example</domain-name></dhcpv4>")).assert_ok()
    dn = "d:server/d:dhcpv4/d:domain-name"
    assert leaf(data_of(get_data(s, "candidate", subtree(SERVER))), dn) == "edited.example"
    assert leaf(data_of(get_data(s, "running", subtree(SERVER))), dn) == "example.net"
    assert leaf(data_of(get_data(s, "operational", subtree(SERVER))), dn) == "example.net"
    s.commit().assert_ok()
    assert leaf(data_of(get_data(s, "operational", subtree(SERVER))), dn) == "edited.example"


def test_max_depth_cuts_below_the_selected_nodes(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    one = data_of(get_data(s, "operational", subtree(SERVER), "<max-depth>1</max-depth>"))
    server = one.find(f"{{{D_NS}}}server")
    assert server is not None and len(server) == 0, etree.tostring(one)

    two = data_of(get_data(s, "operational", subtree(SERVER), "<max-depth>2</max-depth>"))
    children = {etree.QName(c).localname: len(c) for c in two.find(f"{{{D_NS}}}server")}
    assert "dhcpv4" in children and "state" in children, children
    assert set(children.values()) == {0}, f"nothing below level 2: {children}"

    # Levels count from the selected node (dhcpv4); its ancestor comes along; a list entry
    # at the last level keeps its key.
    sel = data_of(get_data(s, "running", f'<xpath-filter xmlns:n="{D_NS}">/n:server/n:dhcpv4</xpath-filter>', "<max-depth>2</max-depth>"))
    assert leaf(sel, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    subnets = sel.xpath("d:server/d:dhcpv4/d:subnet", namespaces=NSMAP)
    assert [[etree.QName(c).localname for c in sn] for sn in subnets] == [["id"]]
    assert leaf(sel, "d:server/d:dhcpv4/d:subnet/d:id") == "1"

    unbounded = data_of(get_data(s, "running", subtree(SERVER), "<max-depth>unbounded</max-depth>"))
    assert canonical(unbounded) == canonical(data_of(get_data(s, "running", subtree(SERVER))))
    bad = get_data(s, "running", "<max-depth>0</max-depth>").one_error()
    assert (bad.type, bad.tag, bad.info.get("bad-element")) == ("protocol", "invalid-value", "max-depth"), bad


def test_errors_and_advertisement(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    # A datastore the server does not implement, and no datastore identity at all.
    for ds in ("intended", "bogus"):
        e = get_data(s, ds).one_error()
        assert (e.type, e.tag, e.info.get("bad-element")) == ("protocol", "invalid-value", "datastore"), e
    e = s.rpc(f'<get-data xmlns="{NMDA_NS}" xmlns:o="urn:other"><datastore>o:running</datastore></get-data>').one_error()
    assert (e.tag, e.info.get("bad-element")) == ("invalid-value", "datastore"), e
    e = s.rpc(f'<get-data xmlns="{NMDA_NS}"/>').one_error()
    assert (e.tag, e.info.get("bad-element")) == ("missing-element", "datastore"), e

    # Origin annotations are not implemented: the origin feature is not advertised and its
    # parameters are unknown elements.
    e = get_data(s, "operational", "<with-origin/>").one_error()
    assert (e.type, e.tag, e.info.get("bad-element")) == ("protocol", "unknown-element", "with-origin"), e
    assert "origin feature" in (e.message or ""), e
    e = get_data(s, "operational", '<origin-filter xmlns:or="urn:ietf:params:xml:ns:yang:ietf-origin">or:intended</origin-filter>').one_error()
    assert (e.tag, e.info.get("bad-element")) == ("unknown-element", "origin-filter"), e

    # RFC 8526 section 2: YANG library 1.1 with ietf-netconf-nmda and the datastores.
    caps = s.server_capabilities
    assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id=") for c in caps), caps
    assert any(c.startswith("urn:ietf:params:netconf:capability:with-operational-defaults:1.0") for c in caps), caps
    lib = data_of(get_data(s, "operational", subtree(f'<yang-library xmlns="{YANGLIB_NS}"/>')))
    ns = {"yl": YANGLIB_NS}
    nmda = lib.xpath("yl:yang-library/yl:module-set/yl:module[yl:name='ietf-netconf-nmda']", namespaces=ns)
    assert len(nmda) == 1, etree.tostring(lib)
    assert nmda[0].findtext(f"{{{YANGLIB_NS}}}revision") == "2019-01-07"
    assert nmda[0].xpath("yl:feature/text()", namespaces=ns) == ["with-defaults"]
    datastores = lib.xpath("yl:yang-library/yl:datastore/yl:name/text()", namespaces=ns)
    assert sorted(d.split(":")[-1] for d in datastores) == ["candidate", "operational", "running", "startup"]

    # with-defaults on operational (:with-operational-defaults): report-all adds the default
    # valid-lifetime the configuration leaves out.
    vl = "d:server/d:dhcpv4/d:valid-lifetime"
    assert leaf(data_of(get_data(s, "operational", subtree(SERVER))), vl) is None
    full = data_of(get_data(s, "operational", subtree(SERVER), "<with-defaults>report-all</with-defaults>"))
    assert leaf(full, vl) == "3600"


def test_access_control_prunes_and_checks_get_data(nc_env_factory, topo):
    settings = settings_toml(users=[(USER, PASSWORD), (NOC, NOC_PW)]) + (
        "\n[nacm.groups]\n" f'admin = ["{USER}"]\n' f'operator = ["{NOC}"]\n'
    )
    env = nc_env_factory(nc_config(topo.server_if), settings=settings)
    admin, noc = env.connect(), env.connect(user=NOC, password=NOC_PW)
    nacm_filter = subtree(f'<nacm xmlns="{ACM_NS}"/>')
    for ds in ("operational", "running"):
        assert data_of(get_data(admin, ds, nacm_filter)).find(f"{{{ACM_NS}}}nacm") is not None, ds
        assert len(data_of(get_data(noc, ds, nacm_filter))) == 0, f"the operator reads no /nacm in {ds}"
        # Nor through a filter-less read; the rest stays readable.
        whole = data_of(get_data(noc, ds))
        assert whole.find(f"{{{ACM_NS}}}nacm") is None, ds
        assert leaf(whole, "d:server/d:dhcpv4/d:domain-name") == "example.net", ds
    # get-data is an operation of ietf-netconf-nmda: a rule naming it refuses it.
    admin.edit(
        f'<nacm xmlns="{ACM_NS}"><rule-list><name>operator</name>'
        "<rule><name>no-get-data</name><module-name>ietf-netconf-nmda</module-name><rpc-name>get-data</rpc-name>"
        "<access-operations>exec</access-operations><action>deny</action></rule></rule-list></nacm>"
    ).assert_ok()
    admin.commit().assert_ok()
    e = get_data(noc, "operational").one_error()
    assert (e.type, e.tag) == ("protocol", "access-denied"), e
    assert len(data_of(get_data(admin, "operational", subtree(SERVER)))) == 1
