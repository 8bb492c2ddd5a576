"""NETCONF event notifications (RFC 5277 with :interleave, RFC 6470) from the real daemon,
read with ncclient (create_subscription, take_notification):

* a commit raises netconf-config-change with changed-by (user, session-id, source-host),
  datastore running and one edit per changed node (instance-identifier target, operation);
* an rpc is answered while the session is subscribed (:interleave);
* replay with startTime returns earlier notifications, then replayComplete; a stopTime ends
  the subscription with notificationComplete;
* bad create-subscription requests get the error-tags RFC 5277 section 2.1.1 gives;
* a pool filled past high-percent by real DHCP clients raises pool-utilization rising, and
  deleting its leases (delete-lease RPC) raises falling;
* subtree and XPath filters choose which notifications a subscription gets;
* a hot-standby pair's failover transitions are reported as ha-state-change, replayed and live;
* get returns the nc-notifications /netconf/streams state (RFC 5277 section 3.2.3): stream
  NETCONF with replay, replayLogCreationTime, and replayLogAgedTime once the replay buffer has
  dropped a notification; get-schema serves the RFC 5277 modules.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99); the
pool test uses a 10-address pool; the failover test a configs_ha hot-standby pair.
"""

from __future__ import annotations

import datetime
import time

import pytest
from lxml import etree

from client import mac
from configs import server_xml
from netconf_tools import (
    NDHCP_NS,
    PRL,
    nc_config,
    nc_dhcp4,
    nc_env_factory,  # noqa: F401 (fixture)
    nc_subnet,
    ndhcp,
    settings_toml,
    subnet_xml,
)

NOTIF_NS = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NETMOD_NOTIF_NS = "urn:ietf:params:xml:ns:netmod:notification"
NCN_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
CAP_NOTIFICATION = "urn:ietf:params:netconf:capability:notification:1.0"
CAP_INTERLEAVE = "urn:ietf:params:netconf:capability:interleave:1.0"
NS = {"n": NOTIF_NS, "ncn": NCN_NS, "d": NDHCP_NS, "nm": NETMOD_NOTIF_NS}
WAIT = 15.0


@pytest.fixture
def env(nc_env_factory, topo):
    return nc_env_factory(nc_config(topo.server_if))


def rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()


def take(nc, timeout: float = WAIT):
    """The next notification's content element (the child after eventTime)."""
    n = nc.m.take_notification(block=True, timeout=timeout)
    assert n is not None, f"no notification within {timeout} s"
    root = etree.fromstring(n.notification_xml.encode() if isinstance(n.notification_xml, str) else n.notification_xml)
    assert etree.QName(root) == etree.QName(NOTIF_NS, "notification"), n.notification_xml
    event_time = root.find("n:eventTime", NS)
    assert event_time is not None and event_time.text, n.notification_xml
    body = [c for c in root if etree.QName(c).localname != "eventTime"]
    assert len(body) == 1, n.notification_xml
    return body[0]


def name_of(el) -> tuple[str, str]:
    q = etree.QName(el)
    return q.namespace, q.localname


def subscribe(nc, **kw):
    r = nc.m.create_subscription(**kw)
    assert r.ok, r.xml
    return r


def edits(change) -> list[tuple[str, str]]:
    """(target with its prefixes resolved to namespaces as {ns}name steps, operation)."""
    out = []
    for e in change.findall("ncn:edit", NS):
        target = e.find("ncn:target", NS)
        path = target.text
        for prefix, uri in target.nsmap.items():
            if prefix:
                path = path.replace(f"{prefix}:", f"{{{uri}}}")
        out.append((path, e.find("ncn:operation", NS).text))
    return sorted(out)


def step(name: str) -> str:
    return f"{{{NDHCP_NS}}}{name}"


def test_commit_raises_config_change_and_rpcs_interleave(env):
    listener = env.connect()
    assert CAP_NOTIFICATION in listener.server_capabilities
    assert CAP_INTERLEAVE in listener.server_capabilities
    subscribe(listener)
    editor = env.connect()
    editor.edit(ndhcp(
        "<dhcpv4><domain-name>changed.example</domain-name>"
        + subnet_xml(2, "100.65.0.0/16", pools=[("100.65.1.0", "100.65.1.9")]) + "</dhcpv4>"
    )).assert_ok()  # fmt: skip
    editor.commit().assert_ok()
    change = take(listener)
    assert name_of(change) == (NCN_NS, "netconf-config-change")
    by = change.find("ncn:changed-by", NS)
    assert by.findtext("ncn:username", namespaces=NS) == "oper"
    assert int(by.findtext("ncn:session-id", namespaces=NS)) == editor.session_id
    assert by.findtext("ncn:source-host", namespaces=NS) == "127.0.0.1"
    assert change.findtext("ncn:datastore", namespaces=NS) == "running"
    d = "/" + "/".join(step(s) for s in ("server", "dhcpv4"))
    assert edits(change) == sorted([
        (f"{d}/{step('domain-name')}", "replace"),
        (f"{d}/{step('subnet')}[{step('id')}='2']", "create"),
    ]), etree.tostring(change).decode()  # fmt: skip

    # :interleave: the subscribed session's own rpcs are answered, and its commit is reported
    # to it like any other.
    data = listener.config_data("running")
    assert data.xpath("d:server/d:dhcpv4/d:domain-name/text()", namespaces=NS) == ["changed.example"]
    listener.edit(ndhcp('<dhcpv4><subnet nc:operation="delete"><id>2</id></subnet></dhcpv4>')).assert_ok()
    listener.commit().assert_ok()
    change = take(listener)
    assert int(change.findtext("ncn:changed-by/ncn:session-id", namespaces=NS)) == listener.session_id
    assert edits(change) == [(f"{d}/{step('subnet')}[{step('id')}='2']", "delete")]

    # A commit that changes nothing raises nothing: the next one seen is the later change.
    editor.commit().assert_ok()
    editor.edit(ndhcp("<dhcpv4><domain-name>third.example</domain-name></dhcpv4>")).assert_ok()
    editor.commit().assert_ok()
    change = take(listener)
    assert edits(change) == [(f"{d}/{step('domain-name')}", "replace")]


def test_replay_then_replay_complete_and_stop_time(env):
    before = time.time() - 1
    editor = env.connect()
    editor.edit(ndhcp("<dhcpv4><domain-name>replayed.example</domain-name></dhcpv4>")).assert_ok()
    editor.commit().assert_ok()
    # The notification is published before the commit's reply leaves: its eventTime is earlier.
    after = time.time()

    replayer = env.connect()
    subscribe(replayer, start_time=rfc3339(before))
    change = take(replayer)
    assert name_of(change) == (NCN_NS, "netconf-config-change")
    assert int(change.findtext("ncn:changed-by/ncn:session-id", namespaces=NS)) == editor.session_id
    assert name_of(take(replayer)) == (NETMOD_NOTIF_NS, "replayComplete")
    # Then live notifications follow.
    editor.edit(ndhcp("<dhcpv4><domain-name>live.example</domain-name></dhcpv4>")).assert_ok()
    editor.commit().assert_ok()
    assert name_of(take(replayer)) == (NCN_NS, "netconf-config-change")

    bounded = env.connect()
    subscribe(bounded, start_time=rfc3339(before), stop_time=rfc3339(after))
    change = take(bounded)
    assert int(change.findtext("ncn:changed-by/ncn:session-id", namespaces=NS)) == editor.session_id
    assert name_of(take(bounded)) == (NETMOD_NOTIF_NS, "replayComplete")
    assert name_of(take(bounded)) == (NETMOD_NOTIF_NS, "notificationComplete")
    # The later change is outside the window: nothing more comes.
    assert bounded.m.take_notification(block=True, timeout=1) is None


def create_subscription(params: str) -> str:
    return f'<create-subscription xmlns="{NOTIF_NS}">{params}</create-subscription>'


def test_bad_create_subscription_requests(env):
    s = env.connect()
    future = rfc3339(time.time() + 3600)
    past = rfc3339(time.time() - 3600)
    e = s.rpc(create_subscription("<stream>SNMP</stream>")).one_error()
    assert (e.type, e.tag, e.info.get("bad-element")) == ("protocol", "invalid-value", "stream"), e
    e = s.rpc(create_subscription(f"<stopTime>{future}</stopTime>")).one_error()
    assert (e.type, e.tag, e.info.get("bad-element")) == ("protocol", "bad-element", "stopTime"), e
    e = s.rpc(create_subscription(f"<startTime>{future}</startTime>")).one_error()
    assert (e.type, e.tag, e.info.get("bad-element")) == ("protocol", "bad-element", "startTime"), e
    e = s.rpc(create_subscription(f"<startTime>{future}</startTime><stopTime>{past}</stopTime>")).one_error()
    assert e.tag == "bad-element", e
    s.rpc(create_subscription("<stream>NETCONF</stream>")).assert_ok()
    e = s.rpc(create_subscription("")).one_error()
    assert (e.type, e.tag) == ("protocol", "operation-failed"), e


def pool_notification(nc, direction: str):
    """The next pool-utilization notification (config changes in between are skipped)."""
    deadline = time.time() + WAIT
    while time.time() < deadline:
        body = take(nc, timeout=max(0.1, deadline - time.time()))
        if name_of(body) == (NDHCP_NS, "pool-utilization"):
            assert body.findtext("d:direction", namespaces=NS) == direction, etree.tostring(body).decode()
            return body
    raise AssertionError(f"no pool-utilization {direction} within {WAIT} s")


def test_pool_utilization_rising_then_falling(nc_env_factory, topo, client):
    pool = ("100.64.1.10", "100.64.1.19")
    env = nc_env_factory(server_xml(dhcpv4=nc_dhcp4(topo.server_if, subnets=[nc_subnet(pool=pool)])))
    s = env.connect()
    s.edit(ndhcp(
        "<notifications><pool-utilization><high-percent>50</high-percent>"
        "<low-percent>20</low-percent></pool-utilization></notifications>"
    )).assert_ok()  # fmt: skip
    s.commit().assert_ok()
    subscribe(s)
    addresses = [client.lease(mac=mac(i), prl=PRL).yiaddr for i in range(5)]
    rising = pool_notification(s, "rising")
    fields = {etree.QName(c).localname: c.text for c in rising}
    assert fields == {
        "direction": "rising", "family": "ipv4", "subnet-id": "1", "pool-start": "100.64.1.10",
        "in-use": "5", "total": "10", "percent": "50", "threshold": "50",
    }, fields  # fmt: skip
    for a in addresses[:4]:
        s.rpc(f'<delete-lease xmlns="{NDHCP_NS}"><address>{a}</address></delete-lease>').assert_ok()
    falling = pool_notification(s, "falling")
    fields = {etree.QName(c).localname: c.text for c in falling}
    assert (fields["in-use"], fields["percent"], fields["threshold"]) == ("1", "10", "20"), fields


def test_subtree_and_xpath_filters_choose_notifications(env):
    by_subtree = env.connect()
    subscribe(by_subtree, filter=(
        "subtree",
        f'<netconf-config-change xmlns="{NCN_NS}"><edit><operation>create</operation></edit></netconf-config-change>',
    ))  # fmt: skip
    by_xpath = env.connect()
    subscribe(by_xpath, filter=("xpath", ({"ncn": NCN_NS}, "/ncn:netconf-config-change[ncn:edit/ncn:operation='delete']")))
    editor = env.connect()
    editor.edit(ndhcp("<dhcpv4><domain-name>filtered.example</domain-name></dhcpv4>")).assert_ok()
    editor.commit().assert_ok()
    editor.edit(ndhcp("<dhcpv4>" + subnet_xml(2, "100.65.0.0/16") + "</dhcpv4>")).assert_ok()
    editor.commit().assert_ok()
    editor.edit(ndhcp('<dhcpv4><subnet nc:operation="delete"><id>2</id></subnet></dhcpv4>')).assert_ok()
    editor.commit().assert_ok()
    created = take(by_subtree)
    assert [op for _, op in edits(created)] == ["create"], etree.tostring(created).decode()
    deleted = take(by_xpath)
    assert [op for _, op in edits(deleted)] == ["delete"], etree.tostring(deleted).decode()
    assert by_subtree.m.take_notification(block=True, timeout=1) is None
    assert by_xpath.m.take_notification(block=True, timeout=1) is None


HA_FIELDS = ("previous-state", "state", "paused")


def ha_fields(body) -> tuple:
    """(previous-state, state, paused) of an ha-state-change."""
    assert name_of(body) == (NDHCP_NS, "ha-state-change"), etree.tostring(body).decode()
    return tuple(body.findtext(f"d:{n}", namespaces=NS) for n in HA_FIELDS)


def hot_standby_pair_replayed(ha_servers, ha_topo, standby_state_machine=None):
    """Starts a hot-standby pair (the standby with `standby_state_machine`, if given), waits
    for hot-standby, subscribes on the standby to ha-state-change replayed from before its
    start; returns (session, the replayed ha_fields in order)."""
    import configs_ha as ch
    from ha import wait_pair

    since = time.time() - 5
    extra = {"state_machine": standby_state_machine} if standby_state_machine else {}
    x1, _ = ch.pair_xml(ch.HOT_STANDBY, ha_topo.s1_if, ha_topo.s2_if)
    _, x2 = ch.pair_xml(ch.HOT_STANDBY, ha_topo.s1_if, ha_topo.s2_if, **extra)
    s1 = ha_servers.netdhcpd(1, x1)
    s2 = ha_servers.netdhcpd(2, x2)
    wait_pair(s1, s2, ch.HOT_STANDBY, timeout=40)
    nc = s2.session()
    subscribe(nc, start_time=rfc3339(since), filter=("subtree", f'<ha-state-change xmlns="{NDHCP_NS}"/>'))
    chain = []
    while True:
        body = take(nc)
        if name_of(body) == (NETMOD_NOTIF_NS, "replayComplete"):
            return nc, chain
        chain.append(ha_fields(body))


def test_ha_state_changes_replayed_and_live(ha_servers, ha_topo):
    """A hot-standby pair: the standby's failover transitions since it started are replayed as a
    chain of ha-state-change (each previous-state the state before, ending in hot-standby), then
    ha-maintenance-start, sent on the same subscribed session, is reported live."""
    import configs_ha as ch

    nc, chain = hot_standby_pair_replayed(ha_servers, ha_topo)
    assert chain, "no failover transition replayed"
    assert chain[0][0] == "waiting", chain
    assert all(a[1] == b[0] for a, b in zip(chain, chain[1:])), chain
    assert chain[-1][1:] == (ch.HOT_STANDBY, "false"), chain

    nc.rpc(f'<ha-maintenance-start xmlns="{NDHCP_NS}"/>').assert_ok()
    assert ha_fields(take(nc))[:2] == (ch.HOT_STANDBY, "partner-in-maintenance")


def test_a_pause_and_its_end_are_ha_state_changes(ha_servers, ha_topo):
    """A standby configured to pause in hot-standby reports, in its replayed chain, entering
    hot-standby paused; ha-continue then reports the pause ending: an ha-state-change whose
    state equals its previous-state, paused false."""
    import configs_ha as ch

    pause = {"state": [{"name": ch.HOT_STANDBY, "pause": "always"}]}
    nc, chain = hot_standby_pair_replayed(ha_servers, ha_topo, standby_state_machine=pause)
    assert chain and chain[-1][1:] == (ch.HOT_STANDBY, "true"), chain
    assert all(p == "false" for _, _, p in chain[:-1]), chain

    r = nc.rpc(f'<ha-continue xmlns="{NDHCP_NS}"/>')
    assert not r.errors, r.raw
    assert ha_fields(take(nc)) == (ch.HOT_STANDBY, ch.HOT_STANDBY, "false")


STREAMS_FILTER = ("subtree", f'<netconf xmlns="{NETMOD_NOTIF_NS}"><streams/></netconf>')


def streams(nc, filter=STREAMS_FILTER):
    r = nc.get(filter=filter)
    assert not r.errors, r.raw
    assert [etree.QName(c) for c in r.data] in ([], [etree.QName(NETMOD_NOTIF_NS, "netconf")]), r.raw
    return r.data.findall("nm:netconf/nm:streams/nm:stream", NS)


def timestamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def event_time(nc) -> str:
    """The eventTime of the next notification, as the server wrote it."""
    n = nc.m.take_notification(block=True, timeout=WAIT)
    assert n is not None, f"no notification within {WAIT} s"
    root = etree.fromstring(n.notification_xml.encode() if isinstance(n.notification_xml, str) else n.notification_xml)
    return root.findtext("n:eventTime", namespaces=NS)


def test_streams_state_and_replay_log_times(nc_env_factory, topo):
    started = time.time()
    replay_two = settings_toml().replace("[netconf]\n", "[netconf]\nreplay_buffer = 2\n", 1)
    env = nc_env_factory(nc_config(topo.server_if), settings=replay_two)
    s = env.connect()
    [stream] = streams(s)
    fields = {etree.QName(c).localname: c.text for c in stream}
    assert set(fields) == {"name", "description", "replaySupport", "replayLogCreationTime"}, fields
    assert fields["name"] == "NETCONF" and fields["replaySupport"] == "true", fields
    assert fields["description"].strip(), fields
    created = timestamp(fields["replayLogCreationTime"])
    assert started - 1 <= created <= time.time(), (started, fields)
    # A content match on another stream name selects nothing.
    other = ("subtree", f'<netconf xmlns="{NETMOD_NOTIF_NS}"><streams><stream><name>SNMP</name></stream></streams></netconf>')
    assert streams(s, other) == []

    # Three notifications through a replay buffer of two: the oldest is dropped, and its event
    # time becomes replayLogAgedTime.
    subscribe(s)
    times = []
    for domain in ("one", "two", "three"):
        s.edit_commit(ndhcp(f"<dhcpv4><domain-name>{domain}.example</domain-name></dhcpv4>"))
        times.append(event_time(s))
    [stream] = streams(s)
    assert stream.findtext("nm:replayLogAgedTime", namespaces=NS) == times[0], (times, etree.tostring(stream))
    # RFC 6022 out-notifications: what this session was sent.
    mon = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
    r = s.get(filter=("subtree", f'<netconf-state xmlns="{mon}"><sessions><session><session-id>{s.session_id}</session-id><out-notifications/></session></sessions></netconf-state>'))
    assert not r.errors, r.raw
    assert r.data.xpath("//m:session/m:out-notifications/text()", namespaces={"m": mon}) == ["3"], r.raw
    assert stream.findtext("nm:replayLogCreationTime", namespaces=NS) == fields["replayLogCreationTime"]

    for module, namespace in (("nc-notifications", NETMOD_NOTIF_NS), ("notifications", NOTIF_NS)):
        assert f"{namespace}?module={module}&revision=2008-07-14" in s.server_capabilities
        text = s.get_schema(module, version="2008-07-14").schema_text
        assert text.startswith(f"module {module} {{") and f'namespace "{namespace}"' in text, text[:200]
