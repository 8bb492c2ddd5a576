"""Failover with a backup server: a hot-standby pair (server1 primary, server2 standby) plus
server3 with role backup, which receives every lease change and answers no client.

Topology: ha.HaTopology (server1 100.64.0.1 and server2 100.64.0.3 on the clients' bridge, their
own peer link 100.100.0.1 <-> 100.100.0.2) plus a third namespace on the same bridge
(ha.add_bridge_namespace) for the backup at 100.64.0.9, peer URL http://100.64.0.9:8001/: the
clients' broadcasts reach it too, and the primary sends it lease changes across the bridge.
All three carry the same three-peer list (configs_ha.trio_xml).

What is checked:
  - the backup says "backup" in its heartbeat, serves no scope and answers no client, while the
    pair is in hot-standby;
  - every lease the primary grants reaches the backup: after 20 DORAs the three lease files hold
    the same 20 leases;
  - wait-backup-ack true: a client's ACK leaves only once the backup acknowledged its lease (it
    is in the backup's file when the client has it), and with the backup killed no ACK leaves at
    all (the update to the backup fails, backup-updates-failed counts it); the backup back, ACKs are
    given again;
  - wait-backup-ack false (the default): with the backup killed the primary keeps ACKing, the
    failed updates are counted, the standby still gets every lease.
"""

from __future__ import annotations

import time

import pytest

import configs_ha as ch
from daemon import check_config
from ha import (
    Client,
    add_bridge_namespace,
    client_mac,
    dora_all,
    lease_view,
    start_side_netdhcpd,
    view_diff,
    wait_pair,
)
from netconf_tools import leaf, ndhcp, wait_for

HS = ch.HOT_STANDBY
S1_IP, S2_IP, S3_IP = ch.S1_LAN_IP, ch.S2_LAN_IP, ch.S3_LAN_IP
PAIR_UP = 40  # seconds for a fresh pair to reach hot-standby
# A lease update to a peer is given up after 5 s (the daemon's UPDATE_TIMEOUT); a refused
# connection fails at once, a margin covers a loaded machine.
UPDATE_BOUND = 5 + 3
# Without wait-backup-ack the backup's copy trails the client's ACK: bounded wait for it.
BACKUP_CATCH_UP = 5.0


@pytest.fixture
def backup_side(ha_topo):
    """server3's namespace on the clients' bridge (deleted with ha_topo)."""
    return add_bridge_namespace(ha_topo, S3_IP)


def start_trio(ha_servers, ha_topo, backup_side, **leaves):
    """The backup first (so it hears from the primary from the start), then the pair; returns
    (s1, s2, s3) once the pair is in hot-standby and the backup says backup."""
    x1, x2, x3 = ch.trio_xml(HS, ha_topo.s1_if, ha_topo.s2_if, backup_side.iface, **leaves)
    s3 = start_side_netdhcpd(ha_servers, backup_side, x3, ch.S3_URL)
    s1 = ha_servers.netdhcpd(1, x1)
    s2 = ha_servers.netdhcpd(2, x2)
    took = wait_pair(s1, s2, HS, timeout=PAIR_UP)
    s3.wait_state("backup", timeout=10)
    print(f"pair in hot-standby {took:.1f}s after both were ready; backup in backup")
    return s1, s2, s3


def assert_acked_only_by_primary(got: dict, what: str):
    """Every client got exactly one OFFER and one ACK, both from the primary."""
    bad = [ex.brief() for ex in got.values()
           if ex.offered_by() != [S1_IP] or ex.acked_by() != [S1_IP] or len(ex.replies) != 1]  # fmt: skip
    assert not bad, f"{what}: {len(bad)} of {len(got)} clients not answered by the primary alone:\n" + "\n".join(bad)


def acked_pairs(got: dict) -> dict[str, str]:
    """address -> chaddr of every ACK the clients received."""
    return {ex.ack["yiaddr"]: mac for mac, ex in got.items() if ex.ack is not None}


def dhcp_counters(server) -> dict[str, int]:
    """/server/state/dhcpv4/counters over NETCONF."""
    r = server.session().get(filter=("subtree", ndhcp("<state><dhcpv4><counters/></dhcpv4></state>")))
    assert not r.errors, r.raw
    base = "d:server/d:state/d:dhcpv4/d:counters"
    names = ("received", "discover", "request", "offer", "ack", "nak", "partner-update-failed")
    return {n: int(leaf(r.data, f"{base}/d:{n}") or 0) for n in names}


def updates_failed(server) -> int:
    return int(server.oper()["backup-updates-failed"])


# ---------------------------------------------------------------- without a daemon


def test_backup_configurations_pass_check(tmp_path):
    """The three documents of each test (wait-backup-ack default, true, false) are valid."""
    variants = (("default", {}), ("wait", {"wait_backup_ack": True}), ("nowait", {"wait_backup_ack": False}))
    for variant, leaves in variants:
        for i, xml in enumerate(ch.trio_xml(HS, "lan1", "lan1", "lan1", **leaves), start=1):
            p = tmp_path / f"backup-{variant}-s{i}.xml"
            p.write_text(xml)
            r = check_config(p)
            assert r.returncode == 0 and "valid" in r.stdout, f"{p}: {r.stdout}{r.stderr}"
    assert "<role>backup</role>" in ch.trio_xml(HS, "lan1", "lan1", "lan1")[2]


# ---------------------------------------------------------------- the backup in normal operation


def test_backup_gets_every_lease_and_answers_no_client(ha_servers, ha_topo, backup_side):
    """The backup is in state backup with no scope; 20 clients are answered by the primary only
    (the backup hears their broadcasts on the bridge but sends nothing); afterwards the backup's
    lease file holds the same 20 leases (address, hwaddr, expire) as the primary's and the
    standby's."""
    s1, s2, s3 = start_trio(ha_servers, ha_topo, backup_side)
    hb3 = s3.heartbeat()
    assert hb3["state"] == "backup" and hb3["scopes"] == [], f"the backup's heartbeat: {hb3}"
    o3 = s3.oper()
    assert (o3["state"], o3["scopes"]) == ("backup", []), o3
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == []
    before3 = dhcp_counters(s3)

    clients = [Client(client_mac(0x30, i)) for i in range(20)]
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    assert_acked_only_by_primary(got, "hot-standby with a backup")
    acked = acked_pairs(got)
    assert len(acked) == 20, f"20 distinct addresses, got {len(acked)}"
    from_backup = [ex.brief() for ex in got.values()
                   if S3_IP in ex.offered_by() + [r.get("server_id") for r in ex.replies]]  # fmt: skip
    assert not from_backup, f"the backup answered clients: {from_backup}"

    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "primary and standby disagree: " + view_diff(v1, v2)
    assert {a: hw for a, (hw, _) in v1.items()} == acked, "the files hold exactly the ACKed leases"
    # Without wait-backup-ack the backup's copy may trail the ACK a little: a bounded wait.
    wait_for(lambda: lease_view(s3.lease_rows()) == v1, timeout=BACKUP_CATCH_UP,
             what="the backup's lease file equals the primary's")  # fmt: skip
    v3 = lease_view(s3.lease_rows())
    assert v3 == v1, "backup and primary disagree: " + view_diff(v3, v1)
    assert len(v3) == 20

    o1, o3 = s1.oper(), s3.oper()
    assert int(o3["updates-received"]) >= 20, f"the backup applied fewer than 20 updates: {o3}"
    assert int(o1["updates-failed"]) == 0 and int(o1["backup-updates-failed"]) == 0, f"an update failed: {o1}"
    after3 = dhcp_counters(s3)
    print(f"backup's DHCPv4 counters before {before3}, after {after3}")
    for n in ("offer", "ack", "nak"):
        assert after3[n] == before3[n] == 0, f"the backup sent DHCP {n}s: {after3}"
    hb3 = s3.heartbeat()
    assert (hb3["state"], hb3["scopes"]) == ("backup", []), hb3
    assert (s1.state(), s2.state()) == (HS, HS)


# ---------------------------------------------------------------- the backup down


def test_wait_backup_ack_holds_acks_while_the_backup_is_down(ha_servers, ha_topo, backup_side):
    """wait-backup-ack true. With the backup up, a client's ACK leaves only once the backup
    acknowledged the lease: it is in the backup's file as soon as the client has it. Killed
    (kill -9), the backup acknowledges nothing: the primary still OFFERs, but no client gets an
    ACK (nor a NAK), and the primary counts the failed updates (backup-updates-failed); the pair stays
    in hot-standby. The backup restarted, clients are ACKed again."""
    s1, s2, s3 = start_trio(ha_servers, ha_topo, backup_side, wait_backup_ack=True)

    first = [Client(client_mac(0x31, i)) for i in range(5)]
    got = dora_all(ha_topo.client, ha_topo.client_if, first)
    assert_acked_only_by_primary(got, "backup up")
    v1, v2, v3 = (lease_view(s.lease_rows()) for s in (s1, s2, s3))
    assert v1 == v2, "primary and standby disagree: " + view_diff(v1, v2)
    # No wait here: the ACK waited for the backup's acknowledgement.
    assert v3 == v1, "an ACK left before the backup had the lease: " + view_diff(v3, v1)
    assert {a: hw for a, (hw, _) in v3.items()} == acked_pairs(got)
    failed0 = updates_failed(s1)
    assert failed0 == 0, s1.oper()

    s3.kill9()
    down = [Client(client_mac(0x32, i)) for i in range(3)]
    got = dora_all(ha_topo.client, ha_topo.client_if, down, timeout=4)
    for ex in got.values():
        assert ex.offered_by() == [S1_IP], f"the primary should still offer: {ex.brief()}"
        assert ex.replies == [], f"a reply left although the backup acknowledged nothing: {ex.brief()}"
    o1 = s1.wait_oper(lambda o: int(o["backup-updates-failed"]) >= failed0 + len(down), timeout=UPDATE_BOUND,
                      what=f"backup-updates-failed grows by {len(down)}")  # fmt: skip
    c1 = dhcp_counters(s1)
    print(f"backup down: primary's /server/state/ha {o1}; DHCPv4 counters {c1}")
    assert c1["ack"] == len(first), f"the primary counts ACKs it should not have sent: {c1}"
    assert (s1.state(), s2.state()) == (HS, HS), "a backup's failure is no reason to leave hot-standby"

    s3.start()
    s3.wait_state("backup", timeout=10)
    back = [Client(client_mac(0x33, i)) for i in range(3)]
    got = dora_all(ha_topo.client, ha_topo.client_if, back)
    assert_acked_only_by_primary(got, "backup back")
    v3 = lease_view(s3.lease_rows())
    missing = {a: mac for a, mac in acked_pairs(got).items() if v3.get(a, ("",))[0] != mac}
    assert not missing, f"ACKed before the returned backup had the lease: {missing}"


def test_without_wait_backup_ack_the_primary_acks_while_the_backup_is_down(ha_servers, ha_topo, backup_side):
    """wait-backup-ack false (the default, set explicitly here). With the backup killed, every
    client is still ACKed by the primary and the standby still holds every lease; the updates
    the backup did not take are counted in backup-updates-failed; the pair stays in hot-standby."""
    s1, s2, s3 = start_trio(ha_servers, ha_topo, backup_side, wait_backup_ack=False)
    s3.kill9()
    failed0 = updates_failed(s1)

    clients = [Client(client_mac(0x34, i)) for i in range(5)]
    t0 = time.monotonic()
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    took = time.monotonic() - t0
    assert_acked_only_by_primary(got, "backup down, wait-backup-ack false")
    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "primary and standby disagree: " + view_diff(v1, v2)
    assert {a: hw for a, (hw, _) in v1.items()} == acked_pairs(got)
    o1 = s1.wait_oper(lambda o: int(o["backup-updates-failed"]) >= failed0 + len(clients), timeout=UPDATE_BOUND,
                      what=f"backup-updates-failed grows by {len(clients)}")  # fmt: skip
    print(f"5 DORAs in {took:.2f}s with the backup down; primary's /server/state/ha {o1}")
    assert int(o1["updates-sent"]) >= len(clients), o1
    assert (s1.state(), s2.state()) == (HS, HS), "a backup's failure is no reason to leave hot-standby"
