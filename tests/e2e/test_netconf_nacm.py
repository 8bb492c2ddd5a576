"""NETCONF access control (RFC 8341, ietf-netconf-acm) enforced by the daemon.

Users of every test: `oper` (USER) in the group admin, `noc` in the group operator, `rescue`
the recovery user ([nacm] table of the start-up settings). The configuration has no /nacm, so
the daemon adds its default policy: admin may do everything; operator reads everything but
/nacm, runs get-leases4/get-leases6, and may not edit-config, commit, lock or run the other
netdhcp-server RPCs.

Checked: operations refused with access-denied (error-type protocol), data writes refused with
access-denied (error-type application, error-path the node), unreadable nodes left out of
get/get-config silently, a rule committed over NETCONF in force for the next request, the
recovery user bypassing a /nacm that locks the administrators out, notifications withheld by a
notification rule, notification content pruned per user (an operator's netconf-config-change
carries no edit of /nacm, RFC 8341 section 3.4.6), the RFC 5277 /netconf/streams state under
read rules, the denial counters, the failover password (marked nacm:default-deny-all in
netdhcp-server) left out for every user no rule permits it to and refused to their writes.
"""

from __future__ import annotations

from lxml import etree

from netconf_tools import (  # noqa: F401
    BASE_NS,
    NSMAP,
    PASSWORD,
    USER,
    d_path,
    nc_config,
    nc_dhcp4,
    nc_env_factory,
    ndhcp,
    resolve_path,
    settings_toml,
    subnet_xml,
)

ACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
D_NS = "urn:netdhcp:yang:netdhcp-server"
NOC, NOC_PW = "noc", "noc-test-Secret-2"
RESCUE, RESCUE_PW = "rescue", "rescue-test-Secret-3"
NACM_FILTER = ("subtree", f'<nacm xmlns="{ACM_NS}"/>')


def settings() -> str:
    return settings_toml(users=[(USER, PASSWORD), (NOC, NOC_PW), (RESCUE, RESCUE_PW)]) + (
        "\n[nacm]\n"
        f'recovery_user = "{RESCUE}"\n'
        "[nacm.groups]\n"
        f'admin = ["{USER}"]\n'
        f'operator = ["{NOC}"]\n'
    )


def started(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if), settings=settings())
    return env, env.connect(), env.connect(user=NOC, password=NOC_PW)


def rpc(sess, name: str, body: str = ""):
    return sess.rpc(f'<{name} xmlns="{D_NS}">{body}</{name}>')


def nacm_el(data):
    return data.find(f"{{{ACM_NS}}}nacm")


def counter(admin, name: str) -> int:
    r = admin.get(filter=NACM_FILTER)
    assert not r.errors, r.raw
    el = nacm_el(r.data)
    assert el is not None, r.raw
    return int(el.findtext(f"{{{ACM_NS}}}{name}"))


def rule_lists(data) -> list[str]:
    el = nacm_el(data)
    if el is None:
        return []
    return [n.text for n in el.findall(f"{{{ACM_NS}}}rule-list/{{{ACM_NS}}}name")]


def domain_name(data) -> str | None:
    return data.findtext("d:server/d:dhcpv4/d:domain-name", namespaces=NSMAP)


def access_denied(reply, error_type: str):
    e = reply.one_error()
    assert (e.type, e.tag, e.severity) == (error_type, "access-denied", "error"), e
    return e


def test_operator_is_refused_changes_and_reads_all_but_nacm(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    # The default policy is in running, visible to the administrator only.
    assert rule_lists(admin.config_data("running")) == ["admin", "operator"]
    noc_view = noc.config_data("running")
    assert nacm_el(noc_view) is None, "the operator does not see /nacm"
    assert domain_name(noc_view) == "example.net", "the operator reads the DHCP configuration"
    got = noc.get()
    assert not got.errors and nacm_el(got.data) is None, "nor its counters in get"
    assert got.data.find("d:server", NSMAP) is not None
    # Operations the operator may not invoke: access-denied, error-type protocol.
    before = counter(admin, "denied-operations")
    access_denied(noc.edit(ndhcp("<dhcpv4><domain-name>noc.example</domain-name></dhcpv4>")), "protocol")
    access_denied(noc.commit(), "protocol")
    access_denied(noc.lock("candidate"), "protocol")
    access_denied(noc.delete_config("startup"), "protocol")
    access_denied(rpc(noc, "delete-lease", "<address>100.64.1.10</address>"), "protocol")
    access_denied(rpc(noc, "ha-partner-down"), "protocol")
    assert counter(admin, "denied-operations") == before + 6
    assert domain_name(admin.config_data("candidate")) == "example.net", "the refused edit changed nothing"
    # What it may run.
    leases = rpc(noc, "get-leases4", "<limit>10</limit>")
    assert not leases.errors, leases.raw
    assert leases.root.findall(f"{{{D_NS}}}lease") == []
    noc.validate("running").assert_ok()
    # The administrator may do everything.
    admin.edit_commit(ndhcp("<dhcpv4><domain-name>admin.example</domain-name></dhcpv4>"))
    assert domain_name(noc.config_data("running")) == "admin.example"
    assert counter(admin, "denied-data-writes") == 0


def test_rule_committed_over_netconf_is_in_force_at_once(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    domain = "/d:server/d:dhcpv4/d:domain-name"
    admin.edit(
        f'<nacm xmlns="{ACM_NS}" xmlns:nc="{BASE_NS}"><rule-list><name>operator</name>'
        '<rule nc:operation="delete"><name>no-edit-config</name></rule>'
        '<rule nc:operation="delete"><name>no-commit</name></rule>'
        '<rule nc:operation="delete"><name>read-all</name></rule>'
        f'<rule><name>hide-domain-name</name><module-name>netdhcp-server</module-name><path xmlns:d="{D_NS}">{domain}</path>'
        "<access-operations>read</access-operations><action>deny</action></rule>"
        f'<rule><name>write-domain-name</name><module-name>netdhcp-server</module-name><path xmlns:d="{D_NS}">{domain}</path>'
        "<access-operations>create update delete</access-operations><action>permit</action></rule>"
        "<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>"
        "</rule-list></nacm>"
    ).assert_ok()
    # Rules come from running: until the commit the operator is still refused edit-config.
    access_denied(noc.edit(ndhcp("<dhcpv4><domain-name>noc.example</domain-name></dhcpv4>")), "protocol")
    admin.commit().assert_ok()
    # In force for the next request: the domain name is hidden, the rest still readable.
    view = noc.config_data("running")
    assert domain_name(view) is None, "hidden by hide-domain-name"
    assert view.findtext("d:server/d:dhcpv4/d:subnet/d:prefix", namespaces=NSMAP) == "100.64.0.0/16"
    filtered = noc.config_data("running", filter=("subtree", f'<server xmlns="{D_NS}"><dhcpv4><domain-name>example.net</domain-name></dhcpv4></server>'))
    assert len(filtered) == 0, "a content-match filter cannot reveal a hidden node"
    # The operator may now change the domain name and commit, and nothing else.
    noc.edit(ndhcp("<dhcpv4><domain-name>noc.example</domain-name></dhcpv4>")).assert_ok()
    noc.commit().assert_ok()
    assert domain_name(admin.config_data("running")) == "noc.example"
    writes = counter(admin, "denied-data-writes")
    r = noc.edit(ndhcp(f"<dhcpv4>{subnet_xml(2, '100.65.0.0/24')}</dhcpv4>"))
    e = access_denied(r, "application")
    assert resolve_path(e) == d_path("server", "dhcpv4", "subnet[id='2']"), e
    assert counter(admin, "denied-data-writes") == writes + 1
    cand = admin.config_data("candidate")
    ids = cand.xpath("d:server/d:dhcpv4/d:subnet/d:id/text()", namespaces=NSMAP)
    assert ids == ["1"], "the refused edit left the candidate as it was"


def test_recovery_user_bypasses_a_policy_that_locks_administrators_out(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    admin.edit_commit(f'<nacm xmlns="{ACM_NS}" xmlns:nc="{BASE_NS}"><rule-list nc:operation="delete"><name>admin</name></rule-list></nacm>')
    # No rule for the administrators any more: reads of /nacm are denied by the model
    # (default-deny-all), writes by write-default.
    assert nacm_el(admin.config_data("running")) is None
    access_denied(admin.edit(ndhcp("<dhcpv4><domain-name>x.example</domain-name></dhcpv4>")), "application")
    rescue = env.connect(user=RESCUE, password=RESCUE_PW)
    assert rule_lists(rescue.config_data("running")) == ["operator"], "the recovery user sees /nacm"
    rescue.edit_commit(
        f'<nacm xmlns="{ACM_NS}"><rule-list><name>admin</name><group>admin</group>'
        "<rule><name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule>"
        "</rule-list></nacm>"
    )
    admin.edit_commit(ndhcp("<dhcpv4><domain-name>x.example</domain-name></dhcpv4>"))
    assert domain_name(rescue.config_data("running")) == "x.example"
    # The recovery user may run what the model protects, e.g. delete-config.
    rescue.delete_config("startup").assert_ok()
    assert counter(admin, "denied-data-writes") == 1


NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"


def operator_rules(*rules: str, delete: tuple[str, ...] = ()) -> str:
    """An edit of the operator rule-list: rules deleted by name, then rules appended."""
    gone = "".join(f'<rule nc:operation="delete"><name>{n}</name></rule>' for n in delete)
    return f'<nacm xmlns="{ACM_NS}" xmlns:nc="{BASE_NS}"><rule-list><name>operator</name>{gone}{"".join(rules)}</rule-list></nacm>'


def test_notifications_are_withheld_by_a_notification_rule(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    r = noc.m.create_subscription()
    assert r.ok, r.xml
    deny = (
        "<rule><name>no-config-change</name><module-name>ietf-netconf-notifications</module-name>"
        "<notification-name>netconf-config-change</notification-name>"
        "<access-operations>read</access-operations><action>deny</action></rule>"
    )
    read_rest = "<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>"
    # The rules of a commit already apply to the notification of that commit.
    admin.edit_commit(operator_rules(deny, read_rest, delete=("read-all",)))
    admin.edit_commit(ndhcp("<dhcpv4><domain-name>a.example</domain-name></dhcpv4>"))
    # Lifting the rule: the operator gets that commit's notification, the first it receives.
    admin.edit_commit(operator_rules(delete=("no-config-change",)))
    n = noc.m.take_notification(block=True, timeout=15)
    assert n is not None, "the operator receives notifications again"
    root = etree.fromstring(n.notification_xml.encode() if isinstance(n.notification_xml, str) else n.notification_xml)
    change = root.find(f"{{{NCN_NS}}}netconf-config-change")
    assert change is not None, n.notification_xml
    targets = [t.text for t in change.iter(f"{{{NCN_NS}}}target")]
    # The first one received is the rule's removal (not the withheld domain-name change), its
    # /nacm edit left out: the operator may not read /nacm.
    assert targets == [], f"the first one received is the rule's removal, without its edit: {targets}"
    assert change.findtext(f"{{{NCN_NS}}}changed-by/{{{NCN_NS}}}session-id") == str(admin.session_id)
    assert counter(admin, "denied-notifications") == 2


def test_operations_the_session_layer_answers_are_checked_too(nc_env_factory, topo):
    """kill-session and create-subscription never reach the datastore; the NETCONF server asks
    access control before answering them, as for every other operation."""
    env, admin, noc = started(nc_env_factory, topo)
    before = counter(admin, "denied-operations")
    e = access_denied(noc.kill_session(admin.session_id), "protocol")
    assert "kill-session" in (e.message or ""), e
    assert counter(admin, "denied-operations") == before + 1
    assert admin.config_data("running") is not None, "the administrator's session lives on"

    no_subscription = (
        "<rule><name>no-subscription</name><module-name>notifications</module-name>"
        "<rpc-name>create-subscription</rpc-name><access-operations>exec</access-operations>"
        "<action>deny</action></rule>"
    )
    admin.edit_commit(operator_rules(no_subscription))
    e = access_denied(noc._r(noc.m.create_subscription()), "protocol")
    assert "notifications:create-subscription" in (e.message or ""), e
    assert counter(admin, "denied-operations") == before + 2
    r = admin.m.create_subscription()
    assert r.ok, "the administrator may subscribe"

    admin.kill_session(noc.session_id).assert_ok()


NETMOD_NOTIF_NS = "urn:ietf:params:xml:ns:netmod:notification"
STREAMS_FILTER = ("subtree", f'<netconf xmlns="{NETMOD_NOTIF_NS}"><streams/></netconf>')


def next_change(sess, timeout: float = 15):
    """The next notification, which must be a netconf-config-change."""
    n = sess.m.take_notification(block=True, timeout=timeout)
    assert n is not None, f"no notification within {timeout} s"
    root = etree.fromstring(n.notification_xml.encode() if isinstance(n.notification_xml, str) else n.notification_xml)
    change = root.find(f"{{{NCN_NS}}}netconf-config-change")
    assert change is not None, n.notification_xml
    return change


def change_targets(change) -> list[str]:
    """Each edit's target with its prefixes replaced by {namespace}."""
    out = []
    for t in change.iter(f"{{{NCN_NS}}}target"):
        path = t.text
        for prefix, uri in t.nsmap.items():
            if prefix:
                path = path.replace(f"{prefix}:", f"{{{uri}}}")
        out.append(path)
    return sorted(out)


def changed_by(change) -> tuple[str, int]:
    by = change.find(f"{{{NCN_NS}}}changed-by")
    return by.findtext(f"{{{NCN_NS}}}username"), int(by.findtext(f"{{{NCN_NS}}}session-id"))


def test_notification_content_is_pruned_per_user(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    assert admin.m.create_subscription().ok and noc.m.create_subscription().ok
    domain = f"/{{{D_NS}}}server/{{{D_NS}}}dhcpv4/{{{D_NS}}}domain-name"
    auditors = (
        f'<nacm xmlns="{ACM_NS}"><rule-list><name>auditors</name><group>auditor</group>'
        "<rule><name>read-all</name><module-name>*</module-name><access-operations>read</access-operations>"
        "<action>permit</action></rule></rule-list></nacm>"
    )
    auditors_target = f"/{{{ACM_NS}}}nacm/{{{ACM_NS}}}rule-list[{{{ACM_NS}}}name='auditors']"

    # A change of /server: both receive it whole.
    admin.edit_commit(ndhcp("<dhcpv4><domain-name>a.example</domain-name></dhcpv4>"))
    for sess in (admin, noc):
        change = next_change(sess)
        assert change_targets(change) == [domain], etree.tostring(change).decode()

    # A change of /nacm only: the administrator sees the edit; the operator, who may not read
    # /nacm, is still told that running changed and by whom, without the edit.
    admin.edit_commit(auditors)
    assert change_targets(next_change(admin)) == [auditors_target]
    change = next_change(noc)
    assert change.find(f"{{{NCN_NS}}}edit") is None, etree.tostring(change).decode()
    assert changed_by(change) == (USER, admin.session_id)
    assert change.findtext(f"{{{NCN_NS}}}datastore") == "running"
    assert ACM_NS not in etree.tostring(change).decode()

    # Both in one commit: the operator's copy keeps only the /server edit.
    admin.edit_commit(
        ndhcp("<dhcpv4><domain-name>b.example</domain-name></dhcpv4>")
        + f'<nacm xmlns="{ACM_NS}" xmlns:nc="{BASE_NS}"><rule-list nc:operation="delete"><name>auditors</name></rule-list></nacm>'
    )
    assert change_targets(next_change(admin)) == sorted([domain, auditors_target])
    assert change_targets(next_change(noc)) == [domain]
    assert counter(admin, "denied-notifications") == 0, "pruning is not withholding"

    # Denied the notification type: the operator receives nothing, not even a pruned copy.
    deny = (
        "<rule><name>no-config-change</name><module-name>ietf-netconf-notifications</module-name>"
        "<notification-name>netconf-config-change</notification-name>"
        "<access-operations>read</access-operations><action>deny</action></rule>"
    )
    read_rest = "<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>"
    admin.edit_commit(operator_rules(deny, read_rest, delete=("read-all",)))
    admin.edit_commit(ndhcp("<dhcpv4><domain-name>c.example</domain-name></dhcpv4>"))
    assert len(change_targets(next_change(admin))) == 3, "the rule's own commit: one rule removed, two added"
    assert change_targets(next_change(admin)) == [domain]
    assert noc.m.take_notification(block=True, timeout=2) is None
    assert counter(admin, "denied-notifications") == 2


def test_streams_state_follows_read_rules(nc_env_factory, topo):
    env, admin, noc = started(nc_env_factory, topo)
    names = lambda sess: [  # noqa: E731
        n.text for n in sess.get(filter=STREAMS_FILTER).data.iter(f"{{{NETMOD_NOTIF_NS}}}name")
    ]
    assert names(noc) == ["NETCONF"], "the default policy lets the operator read the streams"
    hide = (
        "<rule><name>hide-streams</name><module-name>nc-notifications</module-name>"
        "<access-operations>read</access-operations><action>deny</action></rule>"
    )
    read_rest = "<rule><name>read-rest</name><module-name>*</module-name><access-operations>read</access-operations><action>permit</action></rule>"
    admin.edit_commit(operator_rules(hide, read_rest, delete=("read-all",)))
    assert names(noc) == [], "hidden by hide-streams"
    assert names(admin) == ["NETCONF"]


# The HA section of the secret tests: a hot-standby pair on loopback (the partner's URL has no
# listener, which leaves this server waiting for it), with basic-auth credentials.
HA_SECRET = "ha-test-Secret-7"
HA_USER = "ha-peer"
TECH, TECH_PW = "tech", "tech-test-Secret-4"
PASSWORD_PATH = "/d:server/d:ha/d:basic-auth/d:password"
HA_FILTER = ("subtree", f'<server xmlns="{D_NS}"><ha/></server>')


def secrets_settings() -> str:
    """`tech` is in a group no rule-list names: the defaults and the model decide for it."""
    return settings_toml(users=[(USER, PASSWORD), (NOC, NOC_PW), (TECH, TECH_PW)]) + (
        "\n[nacm.groups]\n"
        f'admin = ["{USER}"]\n'
        f'operator = ["{NOC}"]\n'
        f'tech = ["{TECH}"]\n'
    )


def ha_config(iface: str) -> str:
    import configs_ha as ch

    peers = ch.ha_peers(ch.HOT_STANDBY, s1_url="http://127.0.0.1:18047/", s2_url="http://127.0.0.1:18048/")
    ha = ch.ha_block(ch.S1_NAME, ch.HOT_STANDBY, peers=peers, basic_auth={"user": HA_USER, "password": HA_SECRET})
    return ch.ha_server_xml(nc_dhcp4(iface), ha)


def basic_auth(sess, source: str = "running") -> dict[str, str]:
    """The basic-auth leaves of /server/ha that `sess` reads, checking the rest of the HA
    section is there."""
    data = sess.config_data(source, filter=HA_FILTER)
    ha = data.find("d:server/d:ha", NSMAP)
    assert ha is not None, etree.tostring(data)
    assert ha.findtext("d:this-server-name", namespaces=NSMAP) == "server1"
    assert ha.findtext("d:mode", namespaces=NSMAP) == "hot-standby"
    assert len(ha.findall("d:peer", NSMAP)) == 2
    auth = ha.find("d:basic-auth", NSMAP)
    assert auth is not None, "the basic-auth container itself is readable"
    return {etree.QName(leaf).localname: leaf.text for leaf in auth}


def edit_password(sess, value: str):
    return sess.edit(ndhcp(f"<ha><basic-auth><password>{value}</password></basic-auth></ha>"))


def test_secret_leaf_is_hidden_unless_a_rule_permits_it(nc_env_factory, topo):
    """The HA password is marked nacm:default-deny-all in netdhcp-server: a user no rule
    permits it to neither reads nor writes it (RFC 8341 sections 3.2 and 3.4.5); a permit rule
    for the path opens reading only."""
    env = nc_env_factory(ha_config(topo.server_if), settings=secrets_settings())
    admin, noc = env.connect(), env.connect(user=NOC, password=NOC_PW)
    tech = env.connect(user=TECH, password=TECH_PW)
    # The administrator's permit-all rule covers the secret.
    assert basic_auth(admin) == {"user": HA_USER, "password": HA_SECRET}
    # The default policy's operator: everything of the HA section but the password, in
    # get-config and get alike.
    assert basic_auth(noc) == {"user": HA_USER}
    assert basic_auth(noc, "candidate") == {"user": HA_USER}
    got = noc.get(filter=HA_FILTER)
    assert not got.errors, got.raw
    assert got.data.find("d:server/d:ha/d:basic-auth/d:user", NSMAP) is not None
    assert got.data.find("d:server/d:ha/d:basic-auth/d:password", NSMAP) is None
    assert HA_SECRET not in got.raw
    # Without the operator's rules for reading, read-default permits: the mark alone hides it.
    admin.edit_commit(operator_rules(delete=("hide-secrets", "read-all")))
    assert basic_auth(noc) == {"user": HA_USER}
    assert basic_auth(tech) == {"user": HA_USER}
    # A user that may write (write-default permit) changes the user name, not the password.
    admin.edit_commit(f'<nacm xmlns="{ACM_NS}"><write-default>permit</write-default></nacm>')
    tech.edit(ndhcp(f"<ha><basic-auth><user>{HA_USER}-2</user></basic-auth></ha>")).assert_ok()
    tech.commit().assert_ok()
    writes = counter(admin, "denied-data-writes")
    e = access_denied(edit_password(tech, "tech-chosen-1"), "application")
    assert resolve_path(e) == d_path("server", "ha", "basic-auth", "password"), e
    assert counter(admin, "denied-data-writes") == writes + 1
    # An explicit rule permitting the path to the operators: readable, and still not writable
    # (the rule permits read; default-deny-all covers writes too).
    permit = (
        f'<rule><name>read-ha-password</name><module-name>netdhcp-server</module-name><path xmlns:d="{D_NS}">{PASSWORD_PATH}</path>'
        "<access-operations>read</access-operations><action>permit</action></rule>"
    )
    admin.edit_commit(operator_rules(permit, delete=("no-edit-config", "no-commit")))
    assert basic_auth(noc) == {"user": f"{HA_USER}-2", "password": HA_SECRET}
    assert basic_auth(tech) == {"user": f"{HA_USER}-2"}, "the rule is the operators' only"
    e = access_denied(edit_password(noc, "noc-chosen-1"), "application")
    assert resolve_path(e) == d_path("server", "ha", "basic-auth", "password"), e
    noc.edit(ndhcp("<dhcpv4><domain-name>noc.example</domain-name></dhcpv4>")).assert_ok()
    noc.commit().assert_ok()
    assert basic_auth(admin) == {"user": f"{HA_USER}-2", "password": HA_SECRET}, "no refused edit changed it"
    assert domain_name(admin.config_data("running")) == "noc.example"
    # The administrator may change it.
    edit_password(admin, "admin-chosen-1").assert_ok()
    admin.commit().assert_ok()
    assert basic_auth(noc)["password"] == "admin-chosen-1"
