"""Pausing the failover state machine (ISC Kea's `state-machine` setting) and `ha-continue`.

Topology and configurations as test_ha.py (ha.HaTopology, configs_ha): a hot-standby pair,
server1 the primary, server2 the standby, both configured with
/server/ha/state-machine/state[name='waiting']/pause = once. Each server starts paused in
waiting: it heartbeats (its partner sees it) but moves nowhere and answers no client until an
operator sends ha-continue, over NETCONF or as Kea's command on the peer listener. What is
checked: the states both servers report (ha-heartbeat), /server/state/ha/paused, and the text of
ha-continue's answer, which is Kea's ("HA state machine continues." / "HA state machine is not
paused.").
"""

from __future__ import annotations

import configs_ha as ch
from ha import ha_command, hold_states, wait_pair
from netconf_tools import leaf, ndhcp

HS = ch.HOT_STANDBY
PAUSE_WAITING_ONCE = {"state": [{"name": "waiting", "pause": "once"}]}
PAIR_UP = 40  # seconds for a pair to reach hot-standby once both run free
# Several heartbeats (500 ms each): a free pair would have left waiting by then.
HOLD_SECONDS = 4.0
CONTINUES = "HA state machine continues."
NOT_PAUSED = "HA state machine is not paused."


def ha_continue(server) -> str:
    """ha-continue over NETCONF; the text of its `message` output leaf."""
    r = server.session().rpc(f'<ha-continue xmlns="{ch.NS}"/>')
    assert not r.errors, r.raw
    found = r.root.findall(f"{{{ch.NS}}}message")
    assert len(found) == 1, f"no single message leaf in {r.raw}"
    return found[0].text or ""


def paused(server) -> bool:
    value = server.oper().get("paused")
    assert value in ("true", "false"), f"paused is {value!r}"
    return value == "true"


def test_a_pair_paused_in_waiting_moves_on_only_after_ha_continue(ha_servers, ha_topo):
    """Both servers stay in waiting, paused, for several heartbeats; ha-continue on the primary
    answers "continues" and the primary alone moves on (to ready: the standby is still held
    in waiting); ha-continue on the standby, sent as Kea's command on its peer listener, lets
    the pair reach hot-standby. Afterwards ha-continue answers "not paused"."""
    x1, x2 = ch.pair_xml(HS, ha_topo.s1_if, ha_topo.s2_if, state_machine=PAUSE_WAITING_ONCE)
    s1 = ha_servers.netdhcpd(1, x1)
    s2 = ha_servers.netdhcpd(2, x2)
    wait_pair(s1, s2, "waiting", timeout=10)
    s1.wait_oper(lambda h: h.get("paused") == "true" and h.get("partner-state") == "waiting", timeout=10,
                 what="primary paused in waiting, its partner seen waiting")  # fmt: skip
    assert paused(s2)
    off = hold_states(s1, s2, "waiting", "waiting", HOLD_SECONDS)
    assert not off, f"a paused pair left waiting: {off}"
    assert s1.heartbeat()["scopes"] == [] and s2.heartbeat()["scopes"] == []

    assert ha_continue(s1) == CONTINUES
    # The primary syncs from the waiting standby and waits in ready for it.
    s1.wait_state("ready", timeout=PAIR_UP)
    assert not paused(s1)
    off = hold_states(s1, s2, "ready", "waiting", 2.0)
    assert not off, f"the standby moved while paused: {off}"
    assert paused(s2)

    answer = ha_command(s2.ns, s2.url, "ha-continue")
    assert (answer["result"], answer["text"]) == (0, CONTINUES), answer
    wait_pair(s1, s2, HS, timeout=PAIR_UP)
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == []
    assert not paused(s1) and not paused(s2)

    assert ha_continue(s1) == NOT_PAUSED
    answer = ha_command(s2.ns, s2.url, "ha-continue")
    assert (answer["result"], answer["text"]) == (0, NOT_PAUSED), answer


def test_state_machine_settings_are_checked_and_listed(ha_servers, ha_topo):
    """A pause for a state Kea knows but netdhcp does not run (passive-backup) is refused at
    commit with its path; a valid one commits and reads back from running."""
    x1, x2 = ch.pair_xml(HS, ha_topo.s1_if, ha_topo.s2_if)
    s1 = ha_servers.netdhcpd(1, x1)
    ha_servers.netdhcpd(2, x2)
    nc = s1.session()
    bad = "<ha><state-machine><state><name>passive-backup</name><pause>once</pause></state></state-machine></ha>"
    r = nc.edit(ndhcp(bad))
    errors = r.errors if r.errors else nc.commit().errors
    assert errors, "an unknown state name was accepted"
    assert all(e.tag == "invalid-value" for e in errors), errors
    assert any("passive-backup" in (e.message or "") for e in errors), errors
    nc.discard().assert_ok()

    good = "<ha><state-machine><state><name>partner-down</name><pause>always</pause></state></state-machine></ha>"
    nc.edit_commit(ndhcp(good))
    run = nc.config_data("running")
    assert leaf(run, "d:server/d:ha/d:state-machine/d:state[d:name='partner-down']/d:pause") == "always"
