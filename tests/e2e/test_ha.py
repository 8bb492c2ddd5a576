"""Failover (HA) of two netdhcpd servers speaking ISC Kea 2.2's HA protocol to each other.

Topology (ha.HaTopology): server1 (100.64.0.1) and server2 (100.64.0.3) serve subnet
100.64.0.0/10 to the clients on one bridge, so every DISCOVER reaches both; they talk to each
other only over a separate peer link (100.100.0.1 <-> 100.100.0.2, port 8001), which the
partition tests cut while the clients' network stays up. Configurations: configs_ha (same DHCP
configuration and peer list on both, short timers: a heartbeat every 500 ms, communication
interrupted after 2 s).

What is checked, as protocol facts on the wire and in the lease files:
  - hot-standby: the primary answers every client, the standby none, and a lease is on both
    servers before the client hears of it;
  - load-balancing: each client is answered by exactly the server its RFC 3074 hash names;
  - kill -9 of the primary under load: the standby declares it down and serves within the
    detection time, with every lease the primary ACKed;
  - the primary's return: it synchronises from the standby and takes over again, with few
    exchanges lost, and both lease files agree;
  - a cut peer link: no server starts serving clients it must not serve (no address given twice)
    until the partner-down criteria hold, and the pair recovers when the link returns;
  - NETCONF: timers change live; a configuration with two primaries is refused.

Readiness is the servers' own word: ha-heartbeat answers on the peer URL (ha.wait_state), never a
sleep. Every load is bounded in rate and time.
"""

from __future__ import annotations

import time
from pathlib import Path

import configs_ha as ch
from daemon import check_config
from ha import (
    LOADB_MX_TBL,
    Client,
    HaTopology,
    Perf,
    StatePoller,
    assert_path,
    client_mac,
    count_rows,
    dora_all,
    double_allocations,
    failed_exchanges,
    hold_states,
    lb_hash,
    lease_view,
    primary_scope,
    view_diff,
    wait_pair,
    describe_conflicts,
    wire_conflicts,
    wire_replies,
)
from loadtools import Capture
from netconf_tools import d_path, leaf, ndhcp, resolve_path, wait_for
from netns import sh

HS, LB = ch.HOT_STANDBY, ch.LOAD_BALANCING
S1_IP, S2_IP = ch.S1_LAN_IP, ch.S2_LAN_IP
PERF_ADDR = "100.64.0.2/10"  # perfdhcp sends from here, as a relay (giaddr), to both servers
PAIR_UP = 40  # seconds for a fresh pair to reach its normal state (waiting, syncing, ready, ...)
# The failover tests beat every 250 ms: the hand-over back to a returning primary waits for one
# heartbeat, so a shorter beat loses fewer clients during it.
FAILOVER_TIMERS = ch.timers(heartbeat_delay=250)
# Detection: max-response-delay without a heartbeat, plus one heartbeat, plus a margin for a
# loaded two-core machine.
DETECT_MARGIN = 3.0


def detect_bound(t: dict) -> float:
    return (t["max-response-delay"] + t["heartbeat-delay"]) / 1000 + DETECT_MARGIN


def start_pair(ha_servers, ha_topo, mode: str, **kw):
    """Both servers started (READY=1 each) and in the mode's normal state."""
    x1, x2 = ch.pair_xml(mode, ha_topo.s1_if, ha_topo.s2_if, **kw)
    s1 = ha_servers.netdhcpd(1, x1)
    s2 = ha_servers.netdhcpd(2, x2)
    took = wait_pair(s1, s2, mode, timeout=PAIR_UP)
    print(f"pair in {mode} {took:.1f}s after both were ready")
    return s1, s2


def acks_by_server(got: dict) -> dict[str, str]:
    """address -> server identifier of its ACK, for the clients that got exactly one."""
    return {ex.ack["yiaddr"]: ex.ack["server_id"] for ex in got.values() if len(ex.acks) == 1}


def assert_answered_only_by(got: dict, expected: dict[str, str], what: str):
    """Every client got exactly one OFFER and one ACK, both from expected[mac]."""
    bad = []
    for mac, ex in got.items():
        want = expected[mac]
        if ex.offered_by() != [want] or ex.acked_by() != [want] or len(ex.replies) != 1:
            bad.append(ex.brief() + f" (expected only {want})")
    assert not bad, f"{what}: {len(bad)} of {len(got)} clients not answered by exactly their server:\n" + "\n".join(bad)


def acked_pairs(got: dict) -> dict[str, str]:
    """address -> chaddr of every ACK the clients received."""
    return {ex.ack["yiaddr"]: mac for mac, ex in got.items() if ex.ack is not None}


# ---------------------------------------------------------------- without a daemon


def test_rfc3074_hash_vectors():
    """The tests predict which server answers a load-balancing client with their own RFC 3074
    hash: it must be the RFC's (the table is a permutation, bytes mixed last to first from a
    length seed) and give the values the daemon's implementation gives."""
    assert sorted(LOADB_MX_TBL) == list(range(256))
    assert (LOADB_MX_TBL[0], LOADB_MX_TBL[15], LOADB_MX_TBL[16], LOADB_MX_TBL[255]) == (251, 232, 31, 151)
    vectors = {
        b"": 0,
        bytes([0]): 175,
        bytes([1, 2]): 170,
        bytes([0, 0x0C, 1, 0, 0, 1]): 17,
        bytes([0, 0x0C, 1, 0, 0, 2]): 132,
        b"netdhcp": 242,
    }
    for key, h in vectors.items():
        assert lb_hash(key) == h, f"hash({key!r})"
    # One byte: T[1 ^ b] (seed 1, one step); two bytes: the last byte is mixed first.
    assert all(lb_hash(bytes([b])) == LOADB_MX_TBL[1 ^ b] for b in range(256))
    assert lb_hash(bytes([0x12, 0x34])) == LOADB_MX_TBL[LOADB_MX_TBL[2 ^ 0x34] ^ 0x12]
    # Odd hash: the secondary's client; even: the primary's. The client id wins over chaddr.
    assert not primary_scope("00:0c:01:00:00:01") and primary_scope("00:0c:01:00:00:02")
    assert primary_scope("00:0c:01:00:00:01", client_id="000c01000002")


def _netns_names() -> set[str]:
    out = sh("ip", "netns", "list").stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _ping(ns, addr: str) -> bool:
    return ns.run("ping", "-c", "1", "-W", "1", addr, check=False).returncode == 0


def test_ha_topology_up_partition_and_torn_down():
    """The harness itself: both servers and the client share a bridge, the servers also have a
    peer link of their own; cutting it separates only the servers' link; destroy() leaves no
    namespace and no interface behind."""
    host_links_before = sh("ip", "-o", "link").stdout
    t = HaTopology()
    names = {ns.name for ns in t.namespaces}
    try:
        assert names <= _netns_names()
        assert t.s1.addresses(t.s1_if) == ["100.64.0.1/10"]
        assert t.s2.addresses(t.s2_if) == ["100.64.0.3/10"]
        assert t.s1.addresses(t.peer_if) == ["100.100.0.1/30"]
        assert t.s2.addresses(t.peer_if) == ["100.100.0.2/30"]
        assert t.client.addresses(t.client_if) == [], "DHCP clients start with no address"
        for ns in (t.s1, t.s2, t.client, t.lan):
            assert "default" not in ns.ip("route").stdout, f"{ns.name} has a way out"
        assert _ping(t.s1, "100.64.0.3"), "servers see each other on the clients' bridge"
        assert _ping(t.s1, "100.100.0.2") and _ping(t.s2, "100.100.0.1"), "peer link"
        t.client_add_address("100.64.0.2/10")
        assert _ping(t.client, "100.64.0.1") and _ping(t.client, "100.64.0.3"), "clients reach both servers"

        t.cut_peer_link()
        assert not t.peer_link_up()
        # Not over the bridge either (the peer /30 is inside the clients' /10).
        for ns, peer in ((t.s1, "100.100.0.2"), (t.s2, "100.100.0.1")):
            assert ns.ip("route", "get", peer, check=False).returncode != 0, f"{ns.name} still routes to {peer}"
            assert not _ping(ns, peer), f"{ns.name} still reaches {peer} after the cut"
        assert _ping(t.client, "100.64.0.1") and _ping(t.client, "100.64.0.3"), "the clients' network stays up"
        t.restore_peer_link()
        assert t.peer_link_up()
        wait_for(lambda: _ping(t.s1, "100.100.0.2"), timeout=10, what="peer link back")
    finally:
        t.destroy()
    assert not (names & _netns_names()), "namespaces left behind"
    assert sh("ip", "-o", "link").stdout.count("\n") == host_links_before.count("\n"), "host interfaces changed"


def test_pair_configurations_and_examples_pass_check(tmp_path):
    """Every configuration the HA tests start a pair with, and the examples, pass `netdhcpd
    check`; a peer list with two primaries is refused with its path (/server/ha)."""
    repo_examples = Path(__file__).resolve().parents[2] / "examples"
    docs = {}
    for mode in (HS, LB):
        for i, xml in enumerate(ch.pair_xml(mode, "lan1", "lan1"), start=1):
            docs[f"{mode}-s{i}.xml"] = xml
    docs["partition-s1.xml"] = ch.pair_xml(HS, "lan1", "lan1", timer_values=ch.timers(max_unacked_clients=5))[0]
    for name, xml in docs.items():
        (tmp_path / name).write_text(xml)
    paths = [tmp_path / n for n in docs] + [
        repo_examples / n for n in ("ha-primary.xml", "ha-standby.xml", "ha-lb-primary.xml", "ha-lb-secondary.xml")
    ]
    for p in paths:
        r = check_config(p)
        assert r.returncode == 0 and "valid" in r.stdout, f"{p}: {r.stdout}{r.stderr}"
    bad = tmp_path / "two-primaries.xml"
    bad.write_text(ch.pair_xml(HS, "lan1", "lan1", peers=ch.ha_peers(HS, s2_role="primary"))[0])
    r = check_config(bad)
    assert r.returncode != 0
    assert "/netdhcp-server:server/ha:" in r.stdout + r.stderr, r.stdout + r.stderr


# ---------------------------------------------------------------- normal operation


def test_hot_standby_primary_answers_all_and_both_files_hold_every_lease(ha_servers, ha_topo):
    """Hot-standby: server1 (primary) answers all 20 clients, server2 (standby) none; a lease
    reaches the standby before the client's ACK leaves, so once the clients are bound both
    lease files hold the same 20 leases (address, hwaddr, expire)."""
    s1, s2 = start_pair(ha_servers, ha_topo, HS)
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME], "the primary serves the one scope"
    assert s2.heartbeat()["scopes"] == [], "the standby serves nobody"

    clients = [Client(client_mac(0x10, i)) for i in range(20)]
    t0 = int(time.time())
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    t1 = int(time.time()) + 1
    assert_answered_only_by(got, {c.mac: S1_IP for c in clients}, "hot-standby")
    acked = acked_pairs(got)
    assert len(acked) == 20, f"20 distinct addresses, got {len(acked)}"
    for ex in got.values():
        assert ex.ack["lease_time"] == ch.VALID_LIFETIME, ex.brief()

    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "the two lease files disagree: " + view_diff(v1, v2)
    assert {a: hw for a, (hw, _) in v1.items()} == acked, "the files hold exactly the ACKed leases"
    for a, (_, expire) in v1.items():
        assert t0 + ch.VALID_LIFETIME <= expire <= t1 + ch.VALID_LIFETIME, f"{a}: expire {expire}"

    o1, o2 = s1.oper(), s2.oper()
    assert (o1["state"], o1["partner-state"], o1["communication-interrupted"]) == (HS, HS, "false"), o1
    assert (o2["state"], o2["partner-state"], o2["communication-interrupted"]) == (HS, HS, "false"), o2
    assert int(o1["updates-sent"]) >= 20 and int(o2["updates-received"]) >= 20, (o1, o2)
    assert o1["scopes"] == [ch.S1_NAME] and o2["scopes"] == [], (o1, o2)


def lb_clients(n: int, with_client_id: int) -> list[Client]:
    """n clients, both scopes present; `with_client_id` of them send a client identifier whose
    hash falls on the other side than their chaddr's, so only a server hashing the client
    identifier answers them as predicted."""
    out: list[Client] = []
    i = 0
    while len(out) < n - with_client_id:
        out.append(Client(client_mac(0x20, i)))
        i += 1
    j = 0
    while len(out) < n:
        mac = client_mac(0x21, j)
        cid = "ff" + f"{j:08x}" + "0102"  # type 255 (RFC 4361 style), then an opaque id
        if primary_scope(mac, cid) != primary_scope(mac):
            out.append(Client(mac, client_id=cid))
        j += 1
    sides = {primary_scope(c.mac, c.client_id) for c in out}
    assert sides == {True, False}, "the test clients cover both scopes"
    return out


def test_load_balancing_each_client_answered_by_its_hash_owner(ha_servers, ha_topo):
    """Load-balancing: a client is answered by the primary iff the RFC 3074 hash of its client
    identifier (else its chaddr) is even, and by the secondary otherwise, never by both; both
    lease files end with the same 40 leases."""
    s1, s2 = start_pair(ha_servers, ha_topo, LB)
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME]
    assert s2.heartbeat()["scopes"] == [ch.S2_NAME]

    clients = lb_clients(40, with_client_id=10)
    expected = {c.mac: S1_IP if primary_scope(c.mac, c.client_id) else S2_IP for c in clients}
    print(f"{sum(v == S1_IP for v in expected.values())} clients hash to server1, "
          f"{sum(v == S2_IP for v in expected.values())} to server2")  # fmt: skip
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    assert_answered_only_by(got, expected, "load-balancing")
    acked = acked_pairs(got)
    assert len(acked) == 40, f"40 distinct addresses, got {len(acked)}"

    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "the two lease files disagree: " + view_diff(v1, v2)
    assert {a: hw for a, (hw, _) in v1.items()} == acked
    o1, o2 = s1.oper(), s2.oper()
    assert (o1["state"], o2["state"]) == (LB, LB)
    assert o1["scopes"] == [ch.S1_NAME] and o2["scopes"] == [ch.S2_NAME], (o1, o2)


# ---------------------------------------------------------------- failover and recovery


def _kill_primary_under_load(s1, s2, ha_topo, *, seconds: int, base_mac: str, min_rows: int):
    """perfdhcp at 200 DORA/s against the pair; once the primary has granted min_rows leases it
    is killed with SIGKILL. Returns (perf, wall-clock kill time, seconds until the standby said
    partner-down). perfdhcp is left running to its end."""
    perf = Perf(ha_topo, rate=200, seconds=seconds, base_mac=base_mac)
    wait_for(lambda: count_rows(s1.lease_file()) >= min_rows, timeout=seconds,
             what=f"primary granted {min_rows} leases")  # fmt: skip
    assert perf.running(), "perfdhcp ended before the kill"
    t_kill = time.time()
    s1.kill9()
    detected = s2.wait_state("partner-down", timeout=detect_bound(FAILOVER_TIMERS))
    return perf, t_kill, detected


def test_failover_kill9_primary_standby_takes_over_with_every_acked_lease(ha_servers, ha_topo, tmp_path):
    """kill -9 of the primary while perfdhcp runs at 200 DORA/s: the standby declares
    partner-down and answers clients within max-response-delay + a heartbeat (+ margin);
    every lease the primary ACKed on the wire is in the standby's file with the same client;
    no address is bound to two clients, on the wire or across the two files (but for a row
    the primary wrote as it died, whose ACK never left)."""
    s1, s2 = start_pair(ha_servers, ha_topo, HS, timer_values=FAILOVER_TIMERS)
    ha_topo.client_add_address(PERF_ADDR)
    cap = Capture(ha_topo.client, ha_topo.client_if, tmp_path / "failover.pcap").start()
    perf, t_kill, detected = _kill_primary_under_load(s1, s2, ha_topo, seconds=10, base_mac="02:f0:00:00:00:00",
                                                      min_rows=300)  # fmt: skip
    res = perf.finish()
    cap.flush()
    cap.stop()
    replies = wire_replies(cap.path)
    acks = [r for r in replies if r.message_type == "ack"]
    s1_acks = [r for r in acks if r.server_id == S1_IP]
    s2_acks = [r for r in acks if r.server_id == S2_IP]
    early = [r for r in replies if r.server_id == S2_IP and r.ts < t_kill]
    assert not early, f"the standby answered {len(early)} times before the kill: {early[:3]}"
    assert s1_acks, "no ACK from the primary before the kill"
    assert s2_acks, f"the standby ACKed nobody after the kill\n{res.describe()}"
    takeover = min(r.ts for r in s2_acks) - t_kill
    bound = detect_bound(FAILOVER_TIMERS)
    print(f"partner-down {detected:.2f}s after the kill; first ACK from the standby {takeover:.2f}s after "
          f"(bound {bound:.1f}s); {len(s1_acks)} ACKs before, {len(s2_acks)} after")  # fmt: skip
    assert takeover <= bound + 1.0, f"the standby answered only {takeover:.2f}s after the kill"
    assert s2.heartbeat()["scopes"] == [ch.S1_NAME], "in partner-down the standby serves the primary's clients"

    rows1, rows2 = s1.lease_rows(), s2.lease_rows()
    last1 = {r["address"]: r for r in rows1}
    v2 = lease_view(rows2)
    reacked = {r.yiaddr for r in s2_acks}
    missing_s1 = [(r.yiaddr, r.chaddr) for r in s1_acks if last1.get(r.yiaddr, {}).get("hwaddr") != r.chaddr]
    assert not missing_s1, f"ACKed by the primary but not in its own file: {missing_s1[:5]}"
    missing_s2 = [(r.yiaddr, r.chaddr, v2.get(r.yiaddr)) for r in s1_acks if v2.get(r.yiaddr, ("",))[0] != r.chaddr]
    assert not missing_s2, (
        f"{len(missing_s2)} of {len(s1_acks)} leases ACKed by the primary are not on the standby "
        f"(address, chaddr, standby's lease): {missing_s2[:5]}"
    )
    changed = [(r.yiaddr, int(last1[r.yiaddr]["expire"]), v2[r.yiaddr][1]) for r in s1_acks
               if r.yiaddr not in reacked and int(last1[r.yiaddr]["expire"]) != v2[r.yiaddr][1]]  # fmt: skip
    assert not changed, f"the standby holds another expiry than the primary granted: {changed[:5]}"
    assert wire_conflicts(replies) == [], describe_conflicts(replies, t_kill) + " (time from the kill)"
    # The primary writes a lease and sends it to the standby together and ACKs once both are
    # done: killed in between, its file keeps a row its client never got an ACK for and the
    # standby never heard of, so the standby may give that address to another client. Such a
    # row, written in the primary's last moments and not ACKed on the wire, binds nobody.
    acked_by_s1 = {(r.yiaddr, r.chaddr) for r in s1_acks}

    def unconfirmed_at_kill(address: str) -> bool:
        row = last1[address]
        written = int(row["expire"]) - int(row["valid_lifetime"])
        return (address, row["hwaddr"]) not in acked_by_s1 and written >= int(t_kill) - 2

    doubles = double_allocations(rows1, rows2)
    assert [d for d in doubles if not unconfirmed_at_kill(d[0])] == [], (
        f"an address bound to two clients across the files: {doubles}"
    )


def test_recovery_primary_syncs_back_under_load(ha_servers, ha_topo, tmp_path):
    """After a failover (kill -9 of the primary under load), the primary restarts on its state
    directory while perfdhcp keeps running at 200 DORA/s: it goes waiting -> syncing -> ready ->
    hot-standby, synchronising the leases the standby granted alone; exchanges lost during
    the hand-over stay under 2%; afterwards both files agree on every lease a client was given."""
    s1, s2 = start_pair(ha_servers, ha_topo, HS, timer_values=FAILOVER_TIMERS)
    ha_topo.client_add_address(PERF_ADDR)
    cap = Capture(ha_topo.client, ha_topo.client_if, tmp_path / "recovery.pcap").start()
    perf1, _, detected = _kill_primary_under_load(s1, s2, ha_topo, seconds=4, base_mac="02:f1:00:00:00:00",
                                                  min_rows=200)  # fmt: skip
    perf1.finish()
    print(f"failover: partner-down {detected:.2f}s after the kill")

    # The standby now serves alone; the load of the recovery starts before the primary returns.
    alone = count_rows(s2.lease_file())
    perf = Perf(ha_topo, rate=200, seconds=20, base_mac="02:f2:00:00:00:00")
    wait_for(lambda: count_rows(s2.lease_file()) >= alone + 100, timeout=10, what="the standby serves the new load")
    poller = StatePoller(s1.ns, s1.url).start()
    t_restart, t_restart_wall = time.monotonic(), time.time()
    s1.start()
    recovered = wait_pair(s1, s2, HS, timeout=15)
    took = time.monotonic() - t_restart
    wait_for(lambda: poller.states()[-1:] == [HS], timeout=5, what="the poller saw hot-standby")
    seen = poller.stop()
    assert perf.running(), "the recovery must end while perfdhcp still runs, or the loss is not measured"
    res = perf.finish()
    print(f"primary back in hot-standby {took:.2f}s after its restart began ({recovered:.2f}s after READY); "
          f"states seen: {seen}")  # fmt: skip
    assert_path(seen, ["waiting", "syncing", "ready", HS], "the returning primary")
    o1 = s1.oper()
    # sync-leases counts the last sync only: when the standby still had unsent updates as the
    # primary became ready, a second sync follows and may bring none. That the leases the
    # standby granted alone reached the primary is checked on both files below.
    assert o1["sync-running"] == "false", f"a sync is still running: {o1}"

    sent, failed = failed_exchanges(res)
    ratio = failed / sent if sent else 1.0
    print(f"recovery under load: {sent} DISCOVERs, {failed} without an ACK ({100 * ratio:.2f}%)")
    assert sent >= 200 * 20 * 0.8, f"perfdhcp sent only {sent} DISCOVERs\n{res.describe()}"
    assert ratio < 0.02, f"{failed} of {sent} exchanges lost during the recovery\n{res.describe()}"

    cap.flush()
    cap.stop()
    replies = wire_replies(cap.path)
    # In particular no lease the standby grants after the primary's sync may be missed by the
    # primary once it serves again.
    assert wire_conflicts(replies) == [], describe_conflicts(replies, t_restart_wall) + " (time from the restart)"
    last_ack = {}
    for r in replies:
        if r.message_type == "ack":
            last_ack[r.yiaddr] = r.chaddr
    rows1, rows2 = s1.lease_rows(), s2.lease_rows()
    v1, v2 = lease_view(rows1), lease_view(rows2)
    # Every lease of the standby's file is on the primary, identical. A lease only the primary
    # has can only be one it wrote when it was killed, before any client heard of it.
    differ = {a: (v1.get(a), v) for a, v in v2.items() if v1.get(a) != v}
    assert not differ, f"{len(differ)} leases of the standby differ on the primary: {list(differ.items())[:5]}"
    only1 = {a: v for a, v in v1.items() if a not in v2}
    print(f"{len(v2)} leases on both; only on the primary (in flight at the kill): {only1}")
    assert not (set(only1) & set(last_ack)), f"ACKed leases missing from the standby: {set(only1) & set(last_ack)}"
    not_bound = [(a, hw, v2.get(a)) for a, hw in last_ack.items() if v2.get(a, ("",))[0] != hw]
    assert not not_bound, f"ACKed on the wire but not bound to that client on the standby: {not_bound[:5]}"
    assert double_allocations(rows1, rows2) == []


# ---------------------------------------------------------------- partitions


def test_partition_hot_standby_standby_stays_passive(ha_servers, ha_topo):
    """The peer link is cut, the clients' network is not. With max-unacked-clients 5 the standby
    needs more than 5 of the primary's clients unanswered past max-ack-delay before it may
    serve; the primary keeps answering them, so the standby must stay passive (answering nobody,
    not partner-down) while the primary, which serves everyone anyway, goes partner-down and
    keeps the leases it grants to itself. No address is given twice. When the link returns the
    standby resynchronises and both are back in hot-standby with the same leases."""
    t = ch.timers(max_unacked_clients=5)
    s1, s2 = start_pair(ha_servers, ha_topo, HS, timer_values=t)
    got = dora_all(ha_topo.client, ha_topo.client_if, [Client(client_mac(0x50, i)) for i in range(5)])
    assert_answered_only_by(got, {m: S1_IP for m in got}, "before the cut")

    ha_topo.cut_peer_link()
    t_cut = time.monotonic()
    s2.wait_oper(lambda o: o.get("communication-interrupted") == "true", timeout=detect_bound(t),
                 what="the standby sees the link interrupted")  # fmt: skip
    s1.wait_state("partner-down", timeout=detect_bound(t))
    print(f"partition noticed within {time.monotonic() - t_cut:.2f}s")
    # Clients during the partition: most fresh (secs 0), two that say they have waited 10 s,
    # fewer than max-unacked-clients.
    clients = [Client(client_mac(0x51, i)) for i in range(10)]
    clients += [Client(client_mac(0x52, i), secs=10) for i in range(2)]
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    assert_answered_only_by(got, {c.mac: S1_IP for c in clients}, "during the partition")
    assert s2.state() == HS, "the standby left hot-standby although the primary answers its clients"
    o2 = s2.oper()
    assert o2["scopes"] == [] and o2["communication-interrupted"] == "true", o2
    assert int(o2.get("unacked-clients", "0")) <= 5, o2
    o1 = s1.oper()
    assert o1["state"] == "partner-down" and int(o1["unsent-updates"]) >= len(clients), o1

    rows1, rows2 = s1.lease_rows(), s2.lease_rows()
    assert double_allocations(rows1, rows2) == [], "an address bound to two clients across the files"
    v1, v2 = lease_view(rows1), lease_view(rows2)
    assert set(v2) <= set(v1), f"the standby holds leases the primary does not: {sorted(set(v2) - set(v1))[:5]}"

    ha_topo.restore_peer_link()
    took = wait_pair(s1, s2, HS, timeout=PAIR_UP)
    print(f"back in hot-standby {took:.2f}s after the link returned")
    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "after the partition the lease files disagree: " + view_diff(v1, v2)
    assert set(acked_pairs(got)) <= set(v2), "the standby did not get the partition's leases"


def test_partition_load_balancing_scopes_until_partner_down(ha_servers, ha_topo):
    """Load-balancing with the peer link cut: both servers go to communication-recovery and
    each keeps answering only its own scope (clients of both hashes checked). Once more than
    max-unacked-clients (3) of server2's clients have waited past max-ack-delay, server1 declares
    partner-down and answers server2's clients too, while server2, which saw only its own
    clients wait, stays in communication-recovery with its own scope. The link returns: both
    are back in load-balancing."""
    t = ch.timers(max_unacked_clients=3)
    s1, s2 = start_pair(ha_servers, ha_topo, LB, timer_values=t)
    ha_topo.cut_peer_link()
    took = wait_pair(s1, s2, "communication-recovery", timeout=detect_bound(t))
    print(f"both in communication-recovery {took:.2f}s after the cut")

    pool = [Client(client_mac(0x60, i)) for i in range(64)]
    mine = [c for c in pool if primary_scope(c.mac)]
    theirs = [c for c in pool if not primary_scope(c.mac)]
    assert len(mine) >= 12 and len(theirs) >= 12
    batch = mine[:6] + theirs[:6]
    got = dora_all(ha_topo.client, ha_topo.client_if, batch)
    assert_answered_only_by(got, {c.mac: S1_IP if c in mine else S2_IP for c in batch}, "communication-recovery")
    assert (s1.state(), s2.state()) == ("communication-recovery", "communication-recovery")
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == [ch.S2_NAME]

    # Four of server2's clients that say they have waited 10 s (> max-ack-delay 1 s): more than
    # max-unacked-clients, so server1 may take them over.
    waiting = [Client(c.mac, secs=10) for c in theirs[6:10]]
    dora_all(ha_topo.client, ha_topo.client_if, waiting)
    s1.wait_state("partner-down", timeout=5)
    assert s2.state() == "communication-recovery", "server2 saw none of server1's clients wait"
    assert sorted(s1.heartbeat()["scopes"]) == [ch.S1_NAME, ch.S2_NAME]

    after = mine[6:9] + theirs[10:13]
    got = dora_all(ha_topo.client, ha_topo.client_if, after)
    for c in after:
        ex = got[c.mac]
        offered = sorted(ex.offered_by())
        want = [S1_IP] if c in mine else sorted([S1_IP, S2_IP])
        assert offered == want, f"partner-down on server1: {ex.brief()}, expected offers from {want}"
        assert len(ex.acks) == 1, ex.brief()

    ha_topo.restore_peer_link()
    took = wait_pair(s1, s2, LB, timeout=PAIR_UP)
    print(f"back in load-balancing {took:.2f}s after the link returned")


# ---------------------------------------------------------------- configuration over NETCONF


def test_netconf_timer_commit_is_live_and_two_primaries_are_refused(ha_servers, ha_topo):
    """A commit that changes only timers is applied on the running pair (running shows it) and
    the pair stays in hot-standby throughout; an edit that makes both peers primary is refused
    with an rpc-error whose path is /server/ha, and changes nothing."""
    s1, s2 = start_pair(ha_servers, ha_topo, HS)
    timers = "d:server/d:ha/d:timers"
    for s in (s1, s2):
        nc = s.session()
        nc.edit_commit(ndhcp(ch.timers_xml(heartbeat_delay=400, max_response_delay=2500)))
        run = nc.config_data("running")
        assert leaf(run, f"{timers}/d:heartbeat-delay") == "400", f"{s!r}: timer not in running"
        assert leaf(run, f"{timers}/d:max-response-delay") == "2500"
    off = hold_states(s1, s2, HS, HS, seconds=3)
    assert off == [], f"the pair left hot-standby after a timer change: {off}"
    o1 = s1.oper()
    assert (o1["state"], o1["partner-state"], o1["communication-interrupted"]) == (HS, HS, "false"), o1
    assert s1.daemon.running() and s2.daemon.running()

    nc = s1.session()
    r = nc.edit(ndhcp(f"<ha><peer><name>{ch.S2_NAME}</name><role>primary</role></peer></ha>"))
    errors = r.errors if r.errors else nc.commit().errors
    assert errors, "a configuration with two primaries was accepted"
    assert all(e.type == "application" for e in errors), errors
    assert any(resolve_path(e) == d_path("server", "ha") for e in errors), f"no rpc-error on /server/ha: {errors}"
    assert any(e.app_tag == "must-violation" and "primary" in (e.message or "") for e in errors), errors
    nc.discard().assert_ok()
    run = nc.config_data("running")
    assert leaf(run, f"d:server/d:ha/d:peer[d:name='{ch.S2_NAME}']/d:role") == "standby"
    assert (s1.state(), s2.state()) == (HS, HS)


def ha_rpc(server, name: str):
    """One of the module's failover RPCs over NETCONF; returns the reply."""
    return server.session().rpc(f'<{name} xmlns="{ch.NS}"/>')


def test_maintenance_rpcs_hand_clients_over_and_back(ha_servers, ha_topo):
    """ha-maintenance-start on the standby puts the primary in-maintenance (it answers nobody)
    and the standby in partner-in-maintenance (it answers everyone); ha-maintenance-cancel
    returns both to hot-standby and the primary answers again. The RPC is refused on a server
    whose partner is not in maintenance, and ha-partner-down is refused there too."""
    s1, s2 = start_pair(ha_servers, ha_topo, HS)
    r = ha_rpc(s2, "ha-maintenance-cancel")
    assert r.errors and "not in maintenance" in (r.errors[0].message or ""), r.raw

    ha_rpc(s2, "ha-maintenance-start").assert_ok()
    s1.wait_state("in-maintenance", timeout=10)
    s2.wait_state("partner-in-maintenance", timeout=10)
    assert s2.heartbeat()["scopes"] == [ch.S1_NAME] and s1.heartbeat()["scopes"] == []
    r = ha_rpc(s1, "ha-partner-down")
    assert r.errors, "partner-down accepted on a server in maintenance"

    clients = [Client(client_mac(0x60, i)) for i in range(6)]
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    assert_answered_only_by(got, {c.mac: S2_IP for c in clients}, "during maintenance")
    assert s1.daemon.running(), "a server in maintenance keeps running"

    ha_rpc(s2, "ha-maintenance-cancel").assert_ok()
    wait_pair(s1, s2, HS, timeout=PAIR_UP)
    again = [Client(client_mac(0x61, i)) for i in range(4)]
    got = dora_all(ha_topo.client, ha_topo.client_if, again)
    assert_answered_only_by(got, {c.mac: S1_IP for c in again}, "after maintenance")
    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "the files disagree after the hand-over back: " + view_diff(v1, v2)
    assert len(v1) == 10
