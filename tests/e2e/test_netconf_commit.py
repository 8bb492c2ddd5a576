"""Commits that reach the running DHCPv4 server: confirmed commit (RFC 6241 8.4,
:confirmed-commit:1.1) rolled back on timeout, confirmed, persisted across sessions and
cancelled; live apply seen by a real client on the wire; a commit whose prepare fails (an
interface that does not exist) changes nothing.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99, option 42
100.64.0.1, domain-name example.net). The client asks for options 3, 6, 15 and 42.
"""

from __future__ import annotations

import time

import pytest

from client import Dhcp4Client, mac
from netconf_tools import (
    NDHCP_NS,
    PRL,
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


@pytest.fixture
def env(nc_env_factory, topo):
    return nc_env_factory(nc_config(topo.server_if))


@pytest.fixture
def s(env):
    return env.connect()


NEW = ndhcp(
    "<dhcpv4><domain-name>new.example</domain-name><subnet><id>1</id>"
    "<option><code>42</code><value>100.64.0.42</value></option></subnet></dhcpv4>"
)


def domain(sess, ds="running"):
    return leaf(sess.config_data(ds), "d:server/d:dhcpv4/d:domain-name")


def ack_of(client, i):
    return client.lease(mac=mac(i), prl=PRL)


def assert_old_options(ack):
    assert ack.domain_name == "example.net", ack.brief()
    assert ack.ntp_server == ["100.64.0.1"], ack.brief()


def assert_new_options(ack):
    assert ack.domain_name == "new.example", ack.brief()
    assert ack.ntp_server == ["100.64.0.42"], ack.brief()


# ---------------------------------------------------------------- confirmed commit


def test_confirmed_commit_rolls_back_on_timeout(s, client):
    assert_old_options(ack_of(client, 1))
    s.edit(NEW).assert_ok()
    t0 = time.monotonic()
    s.commit(confirmed=True, timeout="2").assert_ok()
    assert domain(s) == "new.example"
    assert_new_options(ack_of(client, 2))
    # Not confirmed: after 2 s running is the old configuration again (bounded poll).
    wait_for(lambda: domain(s) == "example.net", timeout=15, interval=0.2, what="rollback of the confirmed commit")
    assert time.monotonic() - t0 >= 1.9, "rolled back before the confirm-timeout"
    run = s.config_data("running")
    assert leaf(run, "d:server/d:dhcpv4/d:subnet[d:id='1']/d:option[d:code='42']/d:value") == "100.64.0.1"
    assert domain(s, "candidate") == "example.net"
    # The server on the wire gives the old options again.
    assert_old_options(ack_of(client, 3))
    # Nothing pending any more.
    assert s.cancel_commit().one_error().tag == "operation-failed"


def test_confirmed_commit_confirmed(s, client):
    s.edit(NEW).assert_ok()
    s.commit(confirmed=True, timeout="2").assert_ok()
    s.commit().assert_ok()  # the confirming commit
    # Past the confirm-timeout nothing is rolled back (a negative check: it needs the time to pass).
    time.sleep(3)
    assert domain(s) == "new.example"
    assert_new_options(ack_of(client, 1))
    assert s.cancel_commit().one_error().tag == "operation-failed", "nothing to cancel once confirmed"


def test_confirmed_commit_extended_then_confirmed(s):
    s.edit(NEW).assert_ok()
    s.commit(confirmed=True, timeout="2").assert_ok()
    # A follow-up confirmed commit restarts the timer with its own timeout (RFC 6241 8.4.5.1).
    s.commit(confirmed=True, timeout="60").assert_ok()
    time.sleep(3)
    assert domain(s) == "new.example", "the second confirmed commit extended the window"
    s.cancel_commit().assert_ok()
    assert domain(s) == "example.net", "cancel restores the configuration from before the first confirmed commit"


def test_confirmed_commit_rolls_back_when_its_session_ends(s, env):
    a = env.connect()
    a.edit(NEW).assert_ok()
    a.commit(confirmed=True, timeout="120").assert_ok()
    # Another session cannot confirm a non-persistent confirmed commit.
    e = s.commit().one_error()
    assert (e.type, e.tag) == ("protocol", "in-use"), e
    assert domain(s) == "new.example"
    a.close()
    wait_for(lambda: domain(s) == "example.net", timeout=10, interval=0.1, what="rollback when the session ended")


def test_persist_confirmed_from_another_session(s, env, client):
    a = env.connect()
    a.edit(NEW).assert_ok()
    a.commit(confirmed=True, timeout="120", persist="tok-1").assert_ok()
    a.close()
    assert wait_disconnected(a)
    # persist: the commit outlives its session.
    assert domain(s) == "new.example"
    e = s.commit(persist_id="wrong").one_error()
    assert (e.type, e.tag) == ("protocol", "invalid-value"), e
    e = s.commit().one_error()
    assert e.tag == "invalid-value", f"a persistent confirmed commit needs its persist-id: {e}"
    e = s.cancel_commit().one_error()
    assert e.tag == "invalid-value", e
    s.commit(persist_id="tok-1").assert_ok()
    assert domain(s) == "new.example"
    assert s.cancel_commit(persist_id="tok-1").one_error().tag == "operation-failed", "confirmed: nothing pending"
    assert_new_options(ack_of(client, 1))


def test_cancel_commit(s, env, client):
    s.edit(NEW).assert_ok()
    s.commit(confirmed=True, timeout="120").assert_ok()
    assert_new_options(ack_of(client, 1))
    s.cancel_commit().assert_ok()
    assert domain(s) == "example.net"
    assert domain(s, "candidate") == "example.net"
    assert_old_options(ack_of(client, 2))
    # cancel-commit with persist-id from another session.
    b = env.connect()
    s.edit(NEW).assert_ok()
    s.commit(confirmed=True, timeout="120", persist="tok-2").assert_ok()
    assert b.cancel_commit(persist_id="nope").one_error().tag == "invalid-value"
    b.cancel_commit(persist_id="tok-2").assert_ok()
    assert domain(b) == "example.net"
    assert_old_options(ack_of(client, 3))


# ---------------------------------------------------------------- live apply


def test_commit_applies_live_to_the_dhcp_server(s, env, topo, client):
    pid = env.daemon.proc.pid
    assert_old_options(ack_of(client, 1))
    s.edit(NEW).assert_ok()
    s.edit(ndhcp(
        "<dhcpv4><subnet><id>1</id><router nc:operation=\"delete\">100.64.0.1</router><router>100.64.0.254</router></subnet>"
        + subnet_xml(2, "100.65.0.0/24", [("100.65.0.10", "100.65.0.19")], extra="<router>100.65.0.1</router>")
        + "</dhcpv4>"
    )).assert_ok()  # fmt: skip
    s.commit().assert_ok()
    ack = ack_of(client, 2)
    assert_new_options(ack)
    assert ack.router == ["100.64.0.254"], ack.brief()
    # The new subnet serves relayed clients (giaddr inside it) at once.
    topo.client_add_address("100.64.0.2/10")
    topo.client_add_address("100.65.0.1/32")
    relay = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    offer, ack = relay.dora(mac=mac(3), giaddr="100.65.0.1", relay=True, prl=PRL)
    assert offer is not None and offer.message_type == "offer", offer
    assert ack is not None and ack.message_type == "ack", ack
    assert ack.yiaddr.startswith("100.65.0.1"), ack.brief()
    assert ack.router == ["100.65.0.1"]
    assert env.daemon.last_lease_row(ack.yiaddr)["subnet_id"] == "2"
    assert env.daemon.proc.pid == pid, "no restart"


def test_commit_with_missing_interface_fails_and_changes_nothing(s, env, client):
    before = s.config_data("running")
    s.edit(ndhcp("<dhcpv4><interface>nd-missing0</interface><domain-name>never.example</domain-name></dhcpv4>")).assert_ok()
    r = s.commit()
    e = r.one_error()
    assert (e.type, e.tag, e.severity) == ("application", "operation-failed", "error"), e
    path = resolve_path(e)
    assert path.startswith(d_path("server", "dhcpv4", "interface")), e
    assert "nd-missing0" in path, f"the error-path names the interface: {e}"
    assert "nd-missing0" in (e.message or ""), e
    # Nothing changed: running, and the server on the wire.
    from lxml import etree

    assert etree.tostring(s.config_data("running"), method="c14n") == etree.tostring(before, method="c14n")
    assert_old_options(ack_of(client, 1))
    # The candidate still holds the change until discarded.
    assert "nd-missing0" in leaves(s.config_data("candidate"), "d:server/d:dhcpv4/d:interface")
    s.discard().assert_ok()
    s.edit(ndhcp("<dhcpv4><domain-name>new.example</domain-name></dhcpv4>")).assert_ok()
    s.commit().assert_ok()
    assert ack_of(client, 2).domain_name == "new.example"


def test_commit_with_overlapping_pools_fails_with_path(s, client):
    s.edit(
        ndhcp("<dhcpv4><domain-name>never.example</domain-name><subnet><id>1</id><pool><start>100.64.1.90</start><end>100.64.1.120</end></pool></subnet></dhcpv4>"),
        test_option="set",
    ).assert_ok()
    r = s.commit()
    assert r.errors and not r.ok, r.raw
    subnet1 = d_path("server", "dhcpv4", "subnet[id='1']")
    for e in r.errors:
        assert (e.type, e.tag) == ("application", "invalid-value"), e
    assert any(resolve_path(e).startswith(subnet1 + "/{" + NDHCP_NS + "}pool") for e in r.errors), r.raw
    assert domain(s) == "example.net"
    assert_old_options(ack_of(client, 1))


def test_receive_coalescing_is_committed_and_holds_the_next_packet(s, env, topo):
    """receive-coalescing (microseconds, at most 10,000): committed live, refused above its
    range with the leaf's path; with 10 ms the engine, having answered one DISCOVER, reads
    its socket again only 10 ms later, so a second client's DISCOVER sent on the first's
    OFFER is answered that much later. Both are ordinary OFFERs from the pool."""
    e = s.edit(ndhcp("<dhcpv4><receive-coalescing>10001</receive-coalescing></dhcpv4>")).one_error()
    assert (e.type, e.tag) == ("application", "invalid-value"), e
    assert "receive-coalescing" in resolve_path(e), e
    s.edit(ndhcp("<dhcpv4><receive-coalescing>10000</receive-coalescing></dhcpv4>")).assert_ok()
    s.commit().assert_ok()
    assert leaves(s.config_data("running"), "d:server/d:dhcpv4/d:receive-coalescing") == ["10000"]
    # The engine takes up a commit before the packets that arrive after its reply.
    client = Dhcp4Client(topo.client, topo.client_if)
    first, second, gap_ms = client.discover_pair(mac=mac(41), prl=PRL)
    for offer in (first, second):
        assert offer is not None and offer.message_type == "offer", offer
        assert offer.yiaddr.startswith("100.64.1."), offer.brief()
    assert first.yiaddr != second.yiaddr
    assert gap_ms >= 5.0, f"the second DISCOVER was answered {gap_ms:.2f} ms after the first"
