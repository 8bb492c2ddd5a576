"""Failover between netdhcpd and ISC Kea 2.2: the peer link speaks Kea's HA protocol, so Kea
(kea-dhcp4 with libdhcp_ha and libdhcp_lease_cmds, multi-threaded, HA commands on the hook's
dedicated HTTP listener) must work as either partner of a hot-standby pair.

Same topology as test_ha.py (ha.HaTopology): the two servers on the clients' bridge, heartbeats,
lease updates and lease syncs over the peer link. Each test:
  - starts the pair and waits until both say hot-standby (ha-heartbeat, which Kea answers too);
  - binds clients: only the primary answers, and the standby's lease file holds the same leases
    (the primary's lease4-update reached it before the client's ACK);
  - kills the primary with SIGKILL: the standby declares partner-down and serves new clients;
  - restarts the primary on its lease file: it fetches what it missed from the standby
    (dhcp-disable, lease4-get-page, ha-sync-complete-notify / dhcp-enable), both return to
    hot-standby, the primary serves again and the two lease files agree.

Timers are whole seconds for Kea (configs_ha.KEA_TIMERS: heartbeat 1 s, interrupted after 3 s)
and the same on the netdhcpd side. Skipped when Kea or its hooks are not installed.
"""

from __future__ import annotations

import time

import pytest

import configs_ha as ch
from ha import Client, client_mac, dora_all, kea_check, lease_view, view_diff, wait_pair

_MISSING = ch.kea_missing()
if _MISSING:
    pytest.skip(_MISSING, allow_module_level=True)

HS = ch.HOT_STANDBY
S1_IP, S2_IP = ch.S1_LAN_IP, ch.S2_LAN_IP
PAIR_UP = 60  # Kea and netdhcpd, each syncing from the other once: heartbeats are 1 s apart
DETECT = (ch.KEA_TIMERS["max-response-delay"] + ch.KEA_TIMERS["heartbeat-delay"]) / 1000 + 4.0


def netdhcpd_xml(which: int, iface: str) -> str:
    this = ch.S1_NAME if which == 1 else ch.S2_NAME
    return ch.ha_server_xml(ch.ha_dhcp4(iface), ch.ha_block(this, HS, timer_values=dict(ch.KEA_TIMERS)))


def kea_config_fn(which: int, iface: str):
    this = ch.S1_NAME if which == 1 else ch.S2_NAME
    return lambda lease_file: ch.kea_ha_config(iface, lease_file, this, HS)


def bind(ha_topo, group: int, n: int, server_ip: str, what: str) -> dict[str, str]:
    """n new clients; every one answered (OFFER and ACK) by server_ip alone. Returns
    address -> chaddr."""
    clients = [Client(client_mac(group, i)) for i in range(n)]
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    bad = [ex.brief() for ex in got.values() if ex.offered_by() != [server_ip] or ex.acked_by() != [server_ip]]
    assert not bad, f"{what}: clients not answered by {server_ip} alone:\n" + "\n".join(bad)
    return {ex.ack["yiaddr"]: mac for mac, ex in got.items()}


def assert_files_agree(a, b, what: str, must_hold: dict[str, str]):
    va, vb = lease_view(a.lease_rows()), lease_view(b.lease_rows())
    assert va == vb, f"{what}: {a!r} and {b!r} lease files disagree: " + view_diff(va, vb)
    missing = {addr: hw for addr, hw in must_hold.items() if va.get(addr, ("",))[0] != hw}
    assert not missing, f"{what}: ACKed leases not in the files: {missing}"


def test_kea_accepts_the_test_configurations(ha_topo, tmp_path):
    """The Kea side of every interoperability test passes `kea-dhcp4 -t` in its namespace
    (configuration parsed, interface found, HA and lease_cmds hooks loaded with their
    parameters), as primary and as standby."""
    for which in (1, 2):
        cfg = kea_config_fn(which, ha_topo.server_if(which))(tmp_path / f"kea{which}-leases4.csv")
        r = kea_check(cfg, tmp_path / f"check{which}", ha_topo.server_ns(which))
        assert r.returncode == 0, f"kea-dhcp4 -t refused the server{which} configuration:\n{r.stdout}\n{r.stderr}"


def _failover_round_trip(ha_topo, primary, standby, primary_ip: str, standby_ip: str):
    took = wait_pair(primary, standby, HS, timeout=PAIR_UP)
    print(f"{primary!r} + {standby!r} in hot-standby after {took:.1f}s")
    hb = standby.heartbeat()
    assert hb["scopes"] == [], f"the standby serves nobody: {hb}"
    assert primary.heartbeat()["scopes"] == [ch.S1_NAME]

    # Leases replicate primary -> standby before the ACK.
    acked = bind(ha_topo, 0x70, 10, primary_ip, "hot-standby")
    assert_files_agree(primary, standby, "hot-standby", acked)

    # The primary dies; the standby takes over with the leases it holds.
    t_kill = time.monotonic()
    primary.kill9()
    standby.wait_state("partner-down", timeout=DETECT)
    print(f"{standby!r} partner-down {time.monotonic() - t_kill:.2f}s after the kill of {primary!r}")
    alone = bind(ha_topo, 0x71, 10, standby_ip, "partner-down")
    assert not (set(alone) & set(acked)), "the standby gave out an address the primary had ACKed"
    # A client of the primary's returns and keeps its address.
    back = dora_all(ha_topo.client, ha_topo.client_if, [Client(next(iter(acked.values())))])
    (ex,) = back.values()
    assert ex.acked_by() == [standby_ip] and ex.ack["yiaddr"] == next(iter(acked)), ex.brief()

    # The primary returns on its lease file, fetches what it missed, and serves again.
    t_restart = time.monotonic()
    primary.start()
    took = wait_pair(primary, standby, HS, timeout=PAIR_UP)
    print(f"{primary!r} back in hot-standby {time.monotonic() - t_restart:.1f}s after its restart "
          f"({took:.1f}s after ready)")  # fmt: skip
    assert_files_agree(primary, standby, "after the primary's sync", {**acked, **alone})
    again = bind(ha_topo, 0x72, 5, primary_ip, "hot-standby again")
    assert_files_agree(primary, standby, "after recovery", {**acked, **alone, **again})


def test_netdhcpd_primary_with_kea_standby(ha_servers, ha_topo):
    """netdhcpd primary, Kea standby: Kea receives netdhcpd's lease updates, takes over when
    netdhcpd is killed, and netdhcpd synchronises from Kea when it returns."""
    s1 = ha_servers.netdhcpd(1, netdhcpd_xml(1, ha_topo.s1_if))
    s2 = ha_servers.kea(2, kea_config_fn(2, ha_topo.s2_if))
    _failover_round_trip(ha_topo, s1, s2, S1_IP, S2_IP)


def test_kea_primary_with_netdhcpd_standby(ha_servers, ha_topo):
    """Kea primary, netdhcpd standby: netdhcpd applies Kea's lease updates, takes over when Kea
    is killed, and Kea synchronises from netdhcpd (lease4-get-page) when it returns."""
    s1 = ha_servers.kea(1, kea_config_fn(1, ha_topo.s1_if))
    s2 = ha_servers.netdhcpd(2, netdhcpd_xml(2, ha_topo.s2_if))
    _failover_round_trip(ha_topo, s1, s2, S1_IP, S2_IP)
