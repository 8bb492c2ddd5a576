"""NETCONF base protocol of netdhcpd (RFC 6241, RFC 6242, RFC 6243, RFC 6022, RFC 8525), seen
by ncclient over SSH from inside the server namespace, the host key checked against a
known_hosts file written from the daemon's key.

Every test starts its own daemon on netconf_tools.nc_config:

    subnet 1  100.64.0.0/16  router 100.64.0.1  pool 100.64.1.0 - 100.64.1.99
              option 42 (NTP) 100.64.0.1
    global    dns-server 100.64.0.1, domain-name example.net, lifetimes at their defaults
"""

from __future__ import annotations

import pytest
from lxml import etree

from netconf_tools import (
    BASE_NS,
    MON_NS,
    NDHCP_NS,
    NSMAP,
    WD_NS,
    YANG_FILE,
    YANGLIB_NS,
    d_path,
    leaf,
    leaves,
    nc_config,
    nc_env_factory,  # noqa: F401 (fixture)
    ndhcp,
    resolve_path,
    subnet_xml,
    wait_disconnected,
    wait_for,
)

NC = f'xmlns:nc="{BASE_NS}"'


@pytest.fixture
def env(nc_env_factory, topo):
    return nc_env_factory(nc_config(topo.server_if))


@pytest.fixture
def s(env):
    """One ncclient session."""
    return env.connect()


SUBNET1 = d_path("server", "dhcpv4", "subnet[id='1']")


def subnet_ids(data) -> list[str]:
    return leaves(data, "d:server/d:dhcpv4/d:subnet/d:id")


def assert_same_tree(a, b):
    assert etree.tostring(a, method="c14n") == etree.tostring(b, method="c14n")


# ---------------------------------------------------------------- hello, capabilities, schemas

EXPECTED_CAPS = {
    "urn:ietf:params:netconf:base:1.0",
    "urn:ietf:params:netconf:base:1.1",
    "urn:ietf:params:netconf:capability:candidate:1.0",
    "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "urn:ietf:params:netconf:capability:validate:1.1",
    "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "urn:ietf:params:netconf:capability:startup:1.0",
    "urn:ietf:params:netconf:capability:xpath:1.0",
    "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim",
    # RFC 8526 section 2.2: with-defaults applies to get-data on operational too.
    "urn:ietf:params:netconf:capability:with-operational-defaults:1.0?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim",
    "urn:ietf:params:netconf:capability:notification:1.0",
    "urn:ietf:params:netconf:capability:interleave:1.0",
}


def test_hello_advertises_exactly_what_is_implemented(s, env):
    caps = s.server_capabilities
    assert s.session_id > 0
    protocol = {c for c in caps if c.startswith("urn:ietf:params:netconf:")}
    yanglib = [c for c in protocol if c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1?")]
    assert len(yanglib) == 1, caps
    assert protocol - set(yanglib) == EXPECTED_CAPS, f"protocol capabilities: {sorted(protocol)}"
    # Not implemented, so not announced.
    for absent in ("writable-running", ":url:"):
        assert not any(absent in c for c in caps), f"{absent} announced but not implemented"
    # RFC 8525 5: revision and content-id; the content-id is the one in the library's data.
    params = dict(p.split("=", 1) for p in yanglib[0].split("?", 1)[1].split("&"))
    assert params["revision"] == "2019-01-04"
    lib = s.get(filter=("subtree", f'<yang-library xmlns="{YANGLIB_NS}"><content-id/></yang-library>'))
    assert leaf(lib.data, "yl:yang-library/yl:content-id") == params["content-id"]
    # RFC 7950 5.6.4: YANG 1.0 modules are also module capabilities; netdhcp-server (1.1) is not.
    mods = {c.split("?")[0]: c for c in caps if "?module=" in c}
    assert "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring" in mods
    assert "module=ietf-netconf-monitoring&revision=2010-10-04" in mods["urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"]
    assert NDHCP_NS not in mods
    # A second session gets another session-id.
    other = env.connect()
    assert other.session_id != s.session_id


def test_yang_library_lists_the_model(s):
    r = s.get(filter=("subtree", f'<yang-library xmlns="{YANGLIB_NS}"/>'))
    assert not r.errors, r.raw
    mods = r.data.xpath("yl:yang-library/yl:module-set/yl:module", namespaces=NSMAP)
    by_name = {leaf(m, "yl:name"): m for m in mods}
    nd = by_name["netdhcp-server"]
    assert leaf(nd, "yl:revision") == "2026-11-27"
    assert leaf(nd, "yl:namespace") == NDHCP_NS
    ds = leaves(r.data, "yl:yang-library/yl:datastore/yl:name")
    assert {d.split(":")[-1] for d in ds} >= {"running", "candidate", "startup"}


def test_get_schema_returns_the_module_file(s):
    r = s.get_schema("netdhcp-server")
    assert not r.errors, r.raw
    text = r.schema_text
    assert text == YANG_FILE.read_text()
    # With its version and format.
    r2 = s.get_schema("netdhcp-server", version="2026-11-27", format="yang")
    assert r2.schema_text == text
    # RFC 6022 3.1: a schema that does not exist is invalid-value.
    for ident, version in (("no-such-module", None), ("netdhcp-server", "1999-01-01")):
        e = s.get_schema(ident, version=version).one_error()
        assert (e.type, e.tag) == ("protocol", "invalid-value"), e
        assert e.info.get("bad-element") == "identifier", e
        assert e.severity == "error"


def test_monitoring_lists_schemas_datastores_and_capabilities(s, env):
    r = s.get(filter=("subtree", f'<netconf-state xmlns="{MON_NS}"/>'))
    assert not r.errors, r.raw
    st = r.data.find("mon:netconf-state", NSMAP)
    schemas = {
        (leaf(x, "mon:identifier"), leaf(x, "mon:version"), leaf(x, "mon:format")): x
        for x in st.findall("mon:schemas/mon:schema", NSMAP)
    }
    nd = schemas[("netdhcp-server", "2026-11-27", "yang")]
    assert leaf(nd, "mon:namespace") == NDHCP_NS
    assert leaves(nd, "mon:location") == ["NETCONF"]
    assert ("ietf-netconf-monitoring", "2010-10-04", "yang") in schemas
    # Every schema listed can be fetched.
    for ident, version, _ in schemas:
        got = s.get_schema(ident, version=version)
        assert not got.errors and got.schema_text.strip(), f"get-schema {ident}@{version}: {got.raw[:500]}"
    assert sorted(leaves(st, "mon:datastores/mon:datastore/mon:name")) == ["candidate", "running", "startup"]
    assert set(leaves(st, "mon:capabilities/mon:capability")) == set(s.server_capabilities)
    # A lock shows in the datastore's state.
    s.lock("running").assert_ok()
    r = s.get(filter=("subtree", f'<netconf-state xmlns="{MON_NS}"><datastores/></netconf-state>'))
    locked = r.data.xpath("mon:netconf-state/mon:datastores/mon:datastore[mon:name='running']/mon:locks/mon:global-lock", namespaces=NSMAP)
    assert len(locked) == 1, r.raw
    assert leaf(locked[0], "mon:locked-by-session") == str(s.session_id)
    assert leaf(locked[0], "mon:locked-time"), "locked-time is set"
    assert not r.data.xpath("mon:netconf-state/mon:datastores/mon:datastore[mon:name='candidate']/mon:locks", namespaces=NSMAP)
    s.unlock("running").assert_ok()


def test_monitoring_lists_sessions(s, env):
    """RFC 6022 /netconf-state/sessions (issue 3: 'sessions, locks, capabilities and schemas are
    in its state data')."""
    other = env.connect()
    r = s.get(filter=("subtree", f'<netconf-state xmlns="{MON_NS}"><sessions/></netconf-state>'))
    assert not r.errors, r.raw
    ids = leaves(r.data, "mon:netconf-state/mon:sessions/mon:session/mon:session-id")
    assert sorted(ids) == sorted([str(s.session_id), str(other.session_id)]), r.raw
    me = r.data.xpath(f"mon:netconf-state/mon:sessions/mon:session[mon:session-id='{s.session_id}']", namespaces=NSMAP)[0]
    assert leaf(me, "mon:username") == "oper"
    assert leaf(me, "mon:transport").endswith("netconf-ssh")


# ---------------------------------------------------------------- get, get-config, filters


def test_get_config_each_datastore(s):
    for ds in ("running", "candidate", "startup"):
        data = s.config_data(ds)
        assert subnet_ids(data) == ["1"], f"{ds}: {etree.tostring(data).decode()}"
        assert leaf(data, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    # get = running configuration plus state data.
    g = s.get()
    assert not g.errors
    assert subnet_ids(g.data) == ["1"]
    assert g.data.find("mon:netconf-state", NSMAP) is not None
    assert g.data.find("yl:yang-library", NSMAP) is not None
    # get-config has no state data.
    assert s.config_data("running").find("mon:netconf-state", NSMAP) is None


def test_get_config_subtree_filters(s):
    s.edit_commit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24', [('100.65.0.10', '100.65.0.20')])}</dhcpv4>"))
    # Selection node: only the prefixes (and the list keys).
    f = f'<server xmlns="{NDHCP_NS}"><dhcpv4><subnet><prefix/></subnet></dhcpv4></server>'
    data = s.config_data("running", filter=("subtree", f))
    subnets = data.findall("d:server/d:dhcpv4/d:subnet", NSMAP)
    assert [[etree.QName(c).localname for c in sn] for sn in subnets] == [["id", "prefix"], ["id", "prefix"]]
    assert leaves(data, "d:server/d:dhcpv4/d:subnet/d:prefix") == ["100.64.0.0/16", "100.65.0.0/24"]
    assert data.find("d:server/d:dhcpv4/d:domain-name", NSMAP) is None
    # Content match node: one subnet, whole.
    f = f'<server xmlns="{NDHCP_NS}"><dhcpv4><subnet><id>2</id></subnet></dhcpv4></server>'
    data = s.config_data("running", filter=("subtree", f))
    assert subnet_ids(data) == ["2"]
    assert leaves(data, "d:server/d:dhcpv4/d:subnet/d:pool/d:end") == ["100.65.0.20"]
    # Nothing matches: empty data.
    f = f'<server xmlns="{NDHCP_NS}"><dhcpv4><subnet><id>77</id></subnet></dhcpv4></server>'
    assert len(s.config_data("running", filter=("subtree", f))) == 0
    # A namespace no module has: RFC 6241 unknown-namespace.
    e = s.get_config("running", filter=("subtree", '<server xmlns="urn:example:nothing"/>')).one_error()
    assert (e.type, e.tag) == ("protocol", "unknown-namespace"), e
    assert e.info.get("bad-namespace") == "urn:example:nothing", e


def test_get_config_xpath_filters(s):
    s.edit_commit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24', [('100.65.0.10', '100.65.0.20')])}</dhcpv4>"))
    # The prefix comes from the namespace declared on <filter> (ncclient puts the nsmap there).
    r = s.m.get_config("running", filter=("xpath", ({"x": NDHCP_NS}, "/x:server/x:dhcpv4/x:subnet[x:id='2']/x:prefix")))
    from netconf_tools import Reply

    data = Reply(r.xml).data
    assert leaves(data, "d:server/d:dhcpv4/d:subnet/d:prefix") == ["100.65.0.0/24"]
    assert subnet_ids(data) == ["2"], "the list key comes with the selected leaf"
    # Any prefix name works: it is resolved from the XML namespaces in scope.
    r = s.m.get_config("candidate", filter=("xpath", ({"foo": NDHCP_NS}, "/foo:server/foo:dhcpv4/foo:domain-name")))
    data = Reply(r.xml).data
    assert leaves(data, "d:server/d:dhcpv4/d:domain-name") == ["example.net"]
    assert data.find("d:server/d:dhcpv4/d:subnet", NSMAP) is None
    # Startup, and a predicate on a value.
    r = s.m.get_config("startup", filter=("xpath", ({"n": NDHCP_NS}, "/n:server/n:dhcpv4/n:subnet[n:prefix='100.64.0.0/16']")))
    assert subnet_ids(Reply(r.xml).data) == ["1"]
    # An undeclared prefix is an error, not an empty answer.
    e = s.rpc(
        f'<get-config xmlns="{BASE_NS}"><source><running/></source>'
        '<filter type="xpath" select="/nope:server"/></get-config>'
    ).one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), e
    assert e.info.get("bad-element") == "filter", e
    # An XPath without prefixes is taken in the module of its top-level name.
    r = s.rpc(
        f'<get-config xmlns="{BASE_NS}"><source><running/></source>'
        '<filter type="xpath" select="/server/dhcpv4/domain-name"/></get-config>'
    )
    assert leaves(r.data, "d:server/d:dhcpv4/d:domain-name") == ["example.net"], r.raw


def test_with_defaults_modes(s):
    def dhcpv4(mode):
        r = s.get_config("running", filter=("subtree", f'<server xmlns="{NDHCP_NS}"><dhcpv4/></server>'), with_defaults=mode)
        assert not r.errors, r.raw
        return r.data.find("d:server/d:dhcpv4", NSMAP)

    # explicit (the basic mode, and what no parameter means): only what was set.
    for mode in (None, "explicit"):
        d = dhcpv4(mode)
        assert d.find("d:valid-lifetime", NSMAP) is None
        assert d.find("d:offer-lifetime", NSMAP) is None
        assert leaf(d, "d:domain-name") == "example.net"
    # report-all: defaults too, untagged.
    d = dhcpv4("report-all")
    assert leaf(d, "d:valid-lifetime") == "3600"
    assert leaf(d, "d:offer-lifetime") == "60"
    assert leaf(d, "d:authoritative") == "true"
    assert leaf(d, "d:subnet/d:option/d:always-send") == "false"
    assert not d.xpath(".//@wd:default", namespaces=NSMAP)
    # report-all-tagged: defaults carry wd:default="true", set values do not.
    d = dhcpv4("report-all-tagged")
    vl = d.find("d:valid-lifetime", NSMAP)
    assert vl.text == "3600" and vl.get(f"{{{WD_NS}}}default") == "true", etree.tostring(vl)
    dn = d.find("d:domain-name", NSMAP)
    assert dn.text == "example.net" and dn.get(f"{{{WD_NS}}}default") is None
    # trim: a value set to its default is left out; explicit reports it.
    s.edit_commit(ndhcp("<dhcpv4><offer-lifetime>60</offer-lifetime><reclaim-interval>11</reclaim-interval></dhcpv4>"))
    assert leaf(dhcpv4("explicit"), "d:offer-lifetime") == "60"
    t = dhcpv4("trim")
    assert t.find("d:offer-lifetime", NSMAP) is None
    assert leaf(t, "d:reclaim-interval") == "11"
    assert t.find("d:valid-lifetime", NSMAP) is None
    # get takes it too.
    g = s.get(filter=("subtree", f'<server xmlns="{NDHCP_NS}"><dhcpv4><valid-lifetime/></dhcpv4></server>'), with_defaults="report-all")
    assert leaves(g.data, "d:server/d:dhcpv4/d:valid-lifetime") == ["3600"]


# ---------------------------------------------------------------- edit-config


def test_edit_merge_changes_candidate_only(s):
    s.edit(ndhcp("<dhcpv4><domain-name>merged.example</domain-name><subnet><id>1</id><description>lab</description></subnet></dhcpv4>")).assert_ok()
    cand = s.config_data("candidate")
    assert leaf(cand, "d:server/d:dhcpv4/d:domain-name") == "merged.example"
    assert leaf(cand, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:description") == "lab"
    assert leaf(cand, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:prefix") == "100.64.0.0/16", "merge keeps the rest"
    run = s.config_data("running")
    assert leaf(run, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    s.commit().assert_ok()
    assert leaf(s.config_data("running"), "d:server/d:dhcpv4/d:domain-name") == "merged.example"


def test_edit_replace(s):
    # replace on the subnet: its pool and option are replaced by what is sent.
    s.edit(ndhcp(
        "<dhcpv4><subnet nc:operation=\"replace\"><id>1</id><prefix>100.64.0.0/16</prefix>"
        "<pool><start>100.64.2.0</start><end>100.64.2.9</end></pool></subnet></dhcpv4>"
    )).assert_ok()  # fmt: skip
    cand = s.config_data("candidate")
    sn = cand.xpath("d:server/d:dhcpv4/d:subnet[d:id='1']", namespaces=NSMAP)[0]
    assert leaves(sn, "d:pool/d:start") == ["100.64.2.0"]
    assert sn.find("d:option", NSMAP) is None
    assert sn.find("d:router", NSMAP) is None
    # default-operation replace: the whole datastore becomes the edit.
    iface = leaf(cand, "d:server/d:dhcpv4/d:interface")
    s.edit(ndhcp(f"<dhcpv4><interface>{iface}</interface></dhcpv4>"), default_operation="replace").assert_ok()
    cand = s.config_data("candidate")
    assert subnet_ids(cand) == []
    assert cand.find("d:server/d:dhcpv4/d:domain-name", NSMAP) is None
    s.discard().assert_ok()
    assert subnet_ids(s.config_data("candidate")) == ["1"]


def test_edit_create_existing_is_data_exists(s):
    r = s.edit(ndhcp(f"<dhcpv4>{subnet_xml(1, '100.64.0.0/16', op='create')}</dhcpv4>"))
    e = r.one_error()
    assert (e.type, e.tag, e.severity) == ("application", "data-exists", "error"), e
    assert resolve_path(e) == SUBNET1, e
    # create of something new works.
    s.edit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24', op='create')}</dhcpv4>")).assert_ok()
    assert subnet_ids(s.config_data("candidate")) == ["1", "2"]
    # create of a leaf that is set.
    e = s.edit(ndhcp('<dhcpv4><domain-name nc:operation="create">x.example</domain-name></dhcpv4>')).one_error()
    assert (e.type, e.tag) == ("application", "data-exists"), e
    assert resolve_path(e) == d_path("server", "dhcpv4", "domain-name"), e


def test_edit_delete_missing_is_data_missing_and_remove_is_not(s):
    e = s.edit(ndhcp(f"<dhcpv4>{subnet_xml(9, '100.66.0.0/24', op='delete')}</dhcpv4>")).one_error()
    assert (e.type, e.tag, e.severity) == ("application", "data-missing", "error"), e
    assert resolve_path(e) == d_path("server", "dhcpv4", "subnet[id='9']"), e
    e = s.edit(ndhcp('<dhcpv4><server-identifier nc:operation="delete"/></dhcpv4>')).one_error()
    assert (e.type, e.tag) == ("application", "data-missing"), e
    assert resolve_path(e) == d_path("server", "dhcpv4", "server-identifier"), e
    # remove of something absent is fine.
    s.edit(ndhcp('<dhcpv4><subnet nc:operation="remove"><id>9</id></subnet><server-identifier nc:operation="remove"/></dhcpv4>')).assert_ok()
    # delete of something present removes it; so does remove.
    s.edit(ndhcp('<dhcpv4><domain-name nc:operation="delete"/></dhcpv4>')).assert_ok()
    s.edit(ndhcp('<dhcpv4><subnet nc:operation="delete"><id>1</id></subnet></dhcpv4>')).assert_ok()
    cand = s.config_data("candidate")
    assert cand.find("d:server/d:dhcpv4/d:domain-name", NSMAP) is None
    assert subnet_ids(cand) == []
    s.edit(ndhcp('<dhcpv4><dns-server nc:operation="remove">100.64.0.1</dns-server></dhcpv4>')).assert_ok()
    assert s.config_data("candidate").find("d:server/d:dhcpv4/d:dns-server", NSMAP) is None
    s.commit().assert_ok()
    assert subnet_ids(s.config_data("running")) == []


def test_edit_default_operation_none(s):
    # Only the node carrying an operation changes; the rest of the edit is navigation.
    s.edit(
        ndhcp('<dhcpv4><domain-name>ignored.example</domain-name><subnet><id>1</id>'
              '<description nc:operation="merge">set</description></subnet></dhcpv4>'),
        default_operation="none",
    ).assert_ok()  # fmt: skip
    cand = s.config_data("candidate")
    assert leaf(cand, "d:server/d:dhcpv4/d:domain-name") == "example.net"
    assert leaf(cand, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:description") == "set"
    # With none, an operation inside a subnet that does not exist is data-missing.
    r = s.edit(
        ndhcp('<dhcpv4><subnet><id>5</id><description nc:operation="merge">x</description></subnet></dhcpv4>'),
        default_operation="none",
    )
    e = r.one_error()
    assert e.tag == "data-missing", e
    assert resolve_path(e).startswith(d_path("server", "dhcpv4", "subnet[id='5']")), e


def test_edit_test_only_changes_nothing(s):
    before = s.config_data("candidate")
    s.edit(ndhcp("<dhcpv4><domain-name>test-only.example</domain-name></dhcpv4>"), test_option="test-only").assert_ok()
    assert_same_tree(s.config_data("candidate"), before)
    # A test-only edit that would be invalid says so, and still changes nothing.
    overlap = subnet_xml(1, "100.64.0.0/16", [("100.64.1.50", "100.64.1.150")])
    e = s.edit(ndhcp(f"<dhcpv4>{overlap}</dhcpv4>"), test_option="test-only").errors
    assert e and all(x.tag == "invalid-value" for x in e), e
    assert_same_tree(s.config_data("candidate"), before)


def test_edit_continue_on_error(s):
    r = s.edit(
        ndhcp(f"<dhcpv4>{subnet_xml(1, '100.64.0.0/16', op='create')}{subnet_xml(3, '100.67.0.0/24', op='create')}"
              f"{subnet_xml(8, '100.68.0.0/24', op='delete')}</dhcpv4>"),
        error_option="continue-on-error",
    )  # fmt: skip
    assert not r.ok
    got = sorted((e.tag, resolve_path(e)) for e in r.errors)
    assert got == sorted([
        ("data-exists", SUBNET1),
        ("data-missing", d_path("server", "dhcpv4", "subnet[id='8']")),
    ]), r.raw  # fmt: skip
    # The good part was applied.
    assert subnet_ids(s.config_data("candidate")) == ["1", "3"]
    # stop-on-error (the default) applies nothing.
    s.discard().assert_ok()
    r = s.edit(ndhcp(f"<dhcpv4>{subnet_xml(1, '100.64.0.0/16', op='create')}{subnet_xml(3, '100.67.0.0/24', op='create')}</dhcpv4>"))
    assert r.one_error().tag == "data-exists"
    assert subnet_ids(s.config_data("candidate")) == ["1"]
    # rollback-on-error likewise.
    r = s.edit(
        ndhcp(f"<dhcpv4>{subnet_xml(3, '100.67.0.0/24', op='create')}{subnet_xml(1, '100.64.0.0/16', op='create')}</dhcpv4>"),
        error_option="rollback-on-error",
    )
    assert r.one_error().tag == "data-exists"
    assert subnet_ids(s.config_data("candidate")) == ["1"]


@pytest.mark.parametrize(
    "inner, path",
    [
        ("<dhcpv4><valid-lifetime>0</valid-lifetime></dhcpv4>", ("server", "dhcpv4", "valid-lifetime")),
        ("<dhcpv4><valid-lifetime>soon</valid-lifetime></dhcpv4>", ("server", "dhcpv4", "valid-lifetime")),
        ("<dhcpv4><subnet><id>1</id><prefix>100.64.0.0/33</prefix></subnet></dhcpv4>", ("server", "dhcpv4", "subnet[id='1']", "prefix")),
        ("<dhcpv4><dns-server>100.64.0.300</dns-server></dhcpv4>", ("server", "dhcpv4", "dns-server")),
        ("<lease-database><durability>sometimes</durability></lease-database>", ("server", "lease-database", "durability")),
    ],
    ids=["range", "not-a-number", "prefix-length", "ipv4-address", "enumeration"],
)
def test_edit_invalid_value(s, inner, path):
    before = s.config_data("candidate")
    e = s.edit(ndhcp(inner)).one_error()
    assert (e.type, e.tag, e.severity) == ("application", "invalid-value", "error"), e
    p = resolve_path(e)
    assert p == d_path(*path) or p.startswith(d_path(*path) + "["), f"error-path {e.path} is not {d_path(*path)}: {e}"
    assert e.message, e
    assert_same_tree(s.config_data("candidate"), before)


def test_edit_unknown_element(s):
    e = s.edit(ndhcp("<dhcpv4><no-such-leaf>1</no-such-leaf></dhcpv4>")).one_error()
    assert (e.type, e.tag) == ("application", "unknown-element"), e
    assert e.info.get("bad-element") == "no-such-leaf", f"RFC 6241 A: unknown-element carries <bad-element>: {e}"


def test_edit_bad_operation_attribute(s):
    e = s.edit(ndhcp('<dhcpv4><domain-name nc:operation="frobnicate">x</domain-name></dhcpv4>')).one_error()
    assert (e.type, e.tag) == ("protocol", "bad-attribute"), e
    assert e.info.get("bad-attribute") == "operation", e


def test_edit_running_is_not_writable(s):
    e = s.edit(ndhcp("<dhcpv4><domain-name>x.example</domain-name></dhcpv4>"), target="running").one_error()
    assert e.tag == "operation-not-supported", e


# ---------------------------------------------------------------- validate, discard, commit errors


def test_validate_and_semantic_error_fails_commit_with_path(s, env):
    s.validate("candidate").assert_ok()
    # Overlapping pools within subnet 1: test-option set puts it in the candidate unchecked.
    s.edit(
        ndhcp("<dhcpv4><subnet><id>1</id><pool><start>100.64.1.50</start><end>100.64.1.150</end></pool></subnet></dhcpv4>"),
        test_option="set",
    ).assert_ok()
    for r in (s.validate("candidate"), s.commit()):
        assert r.errors, r.raw
        for e in r.errors:
            assert (e.type, e.tag) == ("application", "invalid-value"), e
        paths = [resolve_path(e) for e in r.errors]
        assert any(p.startswith(SUBNET1 + "/{" + NDHCP_NS + "}pool") for p in paths), r.raw
        assert any("overlap" in (e.message or "") for e in r.errors), r.raw
    # Nothing changed in running.
    run = s.config_data("running")
    assert leaves(run, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:pool/d:start") == ["100.64.1.0"]
    # test-then-set (the default) refuses the same edit with the same path.
    s.discard().assert_ok()
    r = s.edit(ndhcp("<dhcpv4><subnet><id>1</id><pool><start>100.64.1.50</start><end>100.64.1.150</end></pool></subnet></dhcpv4>"))
    assert r.errors and any(resolve_path(e).startswith(SUBNET1) for e in r.errors), r.raw
    # validate of an inline config.
    bad = ndhcp(
        "<dhcpv4><subnet><id>1</id><prefix>100.64.0.0/16</prefix><pool><start>100.64.1.0</start><end>100.64.1.9</end></pool>"
        "<pool><start>100.64.1.5</start><end>100.64.1.20</end></pool></subnet></dhcpv4>"
    )
    r = s.rpc(f'<validate xmlns="{BASE_NS}"><source><config>{bad}</config></source></validate>')
    assert r.errors and all(e.tag == "invalid-value" for e in r.errors), r.raw
    assert any(resolve_path(e).startswith(SUBNET1) for e in r.errors), r.raw
    good = ndhcp("<dhcpv4><subnet><id>1</id><prefix>100.64.0.0/16</prefix></subnet></dhcpv4>")
    s.rpc(f'<validate xmlns="{BASE_NS}"><source><config>{good}</config></source></validate>').assert_ok()


def test_must_violation_is_reported_with_path(s):
    # renew-timer > rebind-timer violates the model's must.
    e = s.edit(ndhcp("<dhcpv4><renew-timer>500</renew-timer><rebind-timer>100</rebind-timer></dhcpv4>")).errors
    assert e, "refused"
    assert any(x.tag == "operation-failed" and x.app_tag == "must-violation" for x in e), e
    assert any(resolve_path(x) == d_path("server", "dhcpv4", "rebind-timer") for x in e), e


def test_discard_changes(s):
    s.edit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24')}<domain-name>d.example</domain-name></dhcpv4>")).assert_ok()
    assert subnet_ids(s.config_data("candidate")) == ["1", "2"]
    s.discard().assert_ok()
    assert_same_tree(s.config_data("candidate"), s.config_data("running"))


def test_unknown_rpc_is_operation_not_supported(s):
    e = s.rpc('<frobnicate xmlns="urn:example:unknown"/>').one_error()
    assert (e.type, e.tag, e.severity) == ("protocol", "operation-not-supported", "error"), e
    e = s.rpc(f'<frobnicate xmlns="{BASE_NS}"/>').one_error()
    assert e.tag == "operation-not-supported", e
    # The session goes on.
    assert subnet_ids(s.config_data("running")) == ["1"]


# ---------------------------------------------------------------- copy-config, delete-config, restart


def test_copy_running_to_startup_survives_restart(s, env):
    s.edit_commit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24')}</dhcpv4>"))
    assert subnet_ids(s.config_data("startup")) == ["1"], "commit does not touch startup"
    s.copy_config("running", "startup").assert_ok()
    assert subnet_ids(s.config_data("startup")) == ["1", "2"]
    env.close()
    env.daemon.restart(seed=False)
    s2 = env.connect()  # the same host key: known_hosts still verifies it
    assert subnet_ids(s2.config_data("running")) == ["1", "2"]
    assert subnet_ids(s2.config_data("startup")) == ["1", "2"]
    assert subnet_ids(s2.config_data("candidate")) == ["1", "2"]


def test_restart_without_copy_loses_the_commit(s, env):
    s.edit_commit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24')}</dhcpv4>"))
    assert subnet_ids(s.config_data("running")) == ["1", "2"]
    env.close()
    env.daemon.restart(seed=False)
    s2 = env.connect()
    assert subnet_ids(s2.config_data("running")) == ["1"], "running_persistent is off by default: startup is what a restart loads"


def test_running_persistent_keeps_commits_across_restart(nc_env_factory, topo):
    from netconf_tools import settings_toml

    env = nc_env_factory(nc_config(topo.server_if), settings=settings_toml(running_persistent=True))
    s = env.connect()
    s.edit_commit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24')}</dhcpv4>"))
    env.close()
    env.daemon.restart(seed=False)
    s2 = env.connect()
    assert subnet_ids(s2.config_data("running")) == ["1", "2"], "running_persistent: running is saved on commit and loaded at start"
    assert subnet_ids(s2.config_data("startup")) == ["1"], "startup is still only what was copied there"


def test_copy_config_inline_and_errors(s):
    cfg = ndhcp(f"<dhcpv4><interface>x0</interface>{subnet_xml(4, '100.70.0.0/24')}</dhcpv4>")
    s.rpc(f'<copy-config xmlns="{BASE_NS}"><target><candidate/></target><source><config>{cfg}</config></source></copy-config>').assert_ok()
    assert subnet_ids(s.config_data("candidate")) == ["4"]
    s.copy_config("startup", "candidate").assert_ok()
    assert subnet_ids(s.config_data("candidate")) == ["1"]
    e = s.copy_config("candidate", "running").one_error()
    assert e.tag == "operation-not-supported", e
    e = s.copy_config("startup", "startup").one_error()
    assert e.tag == "invalid-value", e


def test_delete_config_startup(s, env):
    s.delete_config("startup").assert_ok()
    assert len(s.config_data("startup")) == 0
    assert subnet_ids(s.config_data("running")) == ["1"], "running is untouched"
    e = s.delete_config("running").one_error()
    assert e.tag == "operation-not-supported", e
    env.close()
    env.daemon.restart(seed=False)
    s2 = env.connect()
    assert subnet_ids(s2.config_data("running")) == [], "an empty startup starts the built-in default"


# ---------------------------------------------------------------- locks and sessions


def test_lock_contention_between_two_sessions(s, env):
    b = env.connect()
    s.lock("candidate").assert_ok()
    e = b.lock("candidate").one_error()
    assert (e.type, e.tag, e.severity) == ("protocol", "lock-denied", "error"), e
    assert e.info.get("session-id") == str(s.session_id), e
    # The holder's lock keeps others from changing the candidate.
    e = b.edit(ndhcp("<dhcpv4><domain-name>b.example</domain-name></dhcpv4>")).one_error()
    assert (e.type, e.tag) == ("protocol", "lock-denied"), e
    assert e.info.get("session-id") == str(s.session_id), e
    e = b.discard().one_error()
    assert (e.tag, e.info.get("session-id")) == ("lock-denied", str(s.session_id)), e
    e = b.unlock("candidate").one_error()
    assert (e.tag, e.info.get("session-id")) == ("lock-denied", str(s.session_id)), "only the holder unlocks"
    # The holder edits and commits.
    s.edit_commit(ndhcp("<dhcpv4><domain-name>a.example</domain-name></dhcpv4>"))
    # Unlocked: the other session may lock.
    s.unlock("candidate").assert_ok()
    b.lock("candidate").assert_ok()
    e = s.lock("candidate").one_error()
    assert e.info.get("session-id") == str(b.session_id), e
    # Locking twice is lock-denied naming oneself; unlocking what is not locked fails.
    assert b.lock("candidate").one_error().info.get("session-id") == str(b.session_id)
    b.unlock("candidate").assert_ok()
    assert b.unlock("candidate").one_error().tag == "operation-failed"
    # running and startup too.
    for ds in ("running", "startup"):
        s.lock(ds).assert_ok()
        e = b.lock(ds).one_error()
        assert (e.tag, e.info.get("session-id")) == ("lock-denied", str(s.session_id)), e
    e = b.copy_config("running", "startup").one_error()
    assert (e.tag, e.info.get("session-id")) == ("lock-denied", str(s.session_id)), e
    e = b.commit().one_error()
    assert (e.tag, e.info.get("session-id")) == ("lock-denied", str(s.session_id)), "running locked: commit refused"


@pytest.mark.parametrize("how", ["close-session", "kill-session", "transport-drop"])
def test_lock_released_when_its_session_ends(s, env, how):
    a = env.connect()
    a.lock("candidate").assert_ok()
    a.lock("running").assert_ok()
    assert s.lock("running").one_error().info.get("session-id") == str(a.session_id)
    if how == "close-session":
        a.close()
    elif how == "kill-session":
        s.kill_session(a.session_id).assert_ok()
        assert wait_disconnected(a), "the killed session's transport is closed"
    else:
        a.m._session.close()  # SSH connection dropped without close-session
    wait_for(lambda: s.lock("running").ok, timeout=10, what="lock on running released")
    s.lock("candidate").assert_ok()


def test_candidate_lock_refused_while_another_session_has_changes(s, env):
    b = env.connect()
    b.edit(ndhcp("<dhcpv4><domain-name>uncommitted.example</domain-name></dhcpv4>")).assert_ok()
    e = s.lock("candidate").one_error()
    assert (e.type, e.tag) == ("protocol", "lock-denied"), e
    assert e.info.get("session-id") == str(b.session_id), f"names the session whose changes are there: {e}"
    # The session that made them may lock.
    b.lock("candidate").assert_ok()
    b.discard().assert_ok()
    b.unlock("candidate").assert_ok()
    s.lock("candidate").assert_ok()


def test_kill_session(s, env):
    victim = env.connect()
    victim.lock("running").assert_ok()
    e = s.kill_session(s.session_id).one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), f"RFC 6241 7.9: killing oneself is invalid-value: {e}"
    e = s.kill_session(99999).one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), f"no such session: {e}"
    s.kill_session(victim.session_id).assert_ok()
    assert wait_disconnected(victim), "the killed session is disconnected"
    s.lock("running").assert_ok()
    # The killer goes on.
    assert subnet_ids(s.config_data("running")) == ["1"]


def test_operation_parameter_errors(s):
    e = s.rpc(f'<get-config xmlns="{BASE_NS}"/>').one_error()
    assert (e.type, e.tag) == ("protocol", "missing-element"), e
    assert e.info.get("bad-element") == "source", e
    e = s.rpc(f'<lock xmlns="{BASE_NS}"><target><bogus/></target></lock>').one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), e
    e = s.rpc(f'<commit xmlns="{BASE_NS}"><confirmed/><confirm-timeout>0</confirm-timeout></commit>').one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), e
    assert e.info.get("bad-element") == "confirm-timeout", e
    e = s.rpc(f'<get-config xmlns="{BASE_NS}"><source><running/></source><with-defaults xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults">sometimes</with-defaults></get-config>').one_error()
    assert e.tag in ("invalid-value", "bad-element"), e


# ---------------------------------------------------------------- session limits from the settings


def test_max_sessions_and_idle_timeout(nc_env_factory, topo):
    from netconf_tools import Nc, settings_toml

    env = nc_env_factory(nc_config(topo.server_if), settings=settings_toml(max_sessions=3, idle_timeout=3))
    first = [env.connect() for _ in range(3)]
    with pytest.raises(Exception):
        extra = Nc(env, timeout=10)
        # Refused at the SSH or the NETCONF level: either way no usable session.
        extra.get_config("running")
    first[0].lock("running").assert_ok()
    # Idle sessions are closed after idle_timeout_secs, and their locks go with them.
    for nc in first:
        assert wait_disconnected(nc, 15), "an idle session is closed"
    s = env.connect()
    s.lock("running").assert_ok()
    assert s.get_config("running").errors == []
