"""netdhcpd under load from ISC perfdhcp (kea-admin), against the binary the tests run
(target/release/netdhcpd unless NETDHCPD says otherwise).

perfdhcp runs in the client namespace with 100.64.0.2/10 on its veth: it sends from that
address as a relay would (giaddr 100.64.0.2), so the server picks subnet 1 (100.64.0.0/10) by
giaddr and answers to 100.64.0.2:67. Every MAC perfdhcp uses is counted up from a base MAC
(-b), over more values (-R) than the run sends exchanges, so every DORA is a new client.

Bounded: 1,000 DORA/s for 5 s, then at most 1,000 returning clients, on a 2-core machine shared with
other work.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from configs import server_xml, standard_dhcp4, standard_subnet
from loadtools import addresses_held_twice, live_leases, mac_add, read_lease_rows, run_perfdhcp

RATE = 1000
SECONDS = 5
# Many more MAC values than exchanges: perfdhcp counts MACs up from the base, so no client
# repeats within a run.
CLIENTS = 1_000_000
BASE_MAC = "02:4c:00:00:00:00"
POOL_START, POOL_END = "100.64.1.0", "100.64.63.255"  # 16,128 addresses
PERF_ADDR = "100.64.0.2/10"


@pytest.fixture
def cfg(topo):
    return standard_dhcp4(
        topo.server_if, subnet=standard_subnet(pool=[{"start": POOL_START, "end": POOL_END}], reservation=[])
    )


@pytest.fixture
def loaded(start_daemon, topo, cfg):
    d = start_daemon(server_xml(dhcpv4=cfg))
    topo.client_add_address(PERF_ADDR)
    return d


def in_pool(addr: str) -> bool:
    a = ipaddress.IPv4Address(addr)
    return ipaddress.IPv4Address(POOL_START) <= a <= ipaddress.IPv4Address(POOL_END)


def assert_clean_run(res, min_sent: int):
    """No drops, every packet answered, and perfdhcp's own sanity counters at zero."""
    d = res.describe()
    do_sent, do_rcvd = res.get("DISCOVER-OFFER", "sent packets"), res.get("DISCOVER-OFFER", "received packets")
    ra_sent, ra_rcvd = res.get("REQUEST-ACK", "sent packets"), res.get("REQUEST-ACK", "received packets")
    assert do_sent >= min_sent, f"perfdhcp sent only {do_sent} DISCOVERs (expected at least {min_sent})\n{d}"
    assert res.get("DISCOVER-OFFER", "drops") == 0, d
    assert res.get("REQUEST-ACK", "drops") == 0, d
    assert do_rcvd == do_sent, d
    assert ra_sent == do_rcvd, f"a REQUEST for every OFFER\n{d}"
    assert ra_rcvd == ra_sent, d
    for exchange in ("DISCOVER-OFFER", "REQUEST-ACK"):
        assert res.get(exchange, "rejected leases") == 0, d
        assert res.get(exchange, "non unique addresses") == 0, d
    assert res.returncode == 0, d
    return ra_rcvd


def test_perfdhcp_every_ack_is_a_distinct_durable_lease(loaded, topo, cfg):
    t0 = int(time.time())
    # -W: at the end, wait up to 2 s for replies still in flight rather than count them dropped.
    res = run_perfdhcp(
        topo.client, topo.client_if, rate=RATE, clients=CLIENTS, seconds=SECONDS, base_mac=BASE_MAC, extra=("-W", "2000000")
    )
    t1 = int(time.time()) + 1
    acks = assert_clean_run(res, min_sent=RATE * SECONDS // 4)

    rows = read_lease_rows(loaded.lease_file())
    live = live_leases(rows)
    lifetime = cfg["valid-lifetime"]
    assert len(rows) == acks, f"one row per ACK: {len(rows)} rows for {acks} ACKs"
    assert len(live) == acks, f"{len(live)} live leases for {acks} ACKs"
    hwaddrs = [r["hwaddr"] for r in live.values()]
    assert len(set(hwaddrs)) == acks, "every ACKed client is a distinct hwaddr with one lease"
    expected_macs = {mac_add(BASE_MAC, i) for i in range(res.get("DISCOVER-OFFER", "sent packets"))}
    assert set(hwaddrs) <= expected_macs, f"hwaddrs not sent by perfdhcp: {sorted(set(hwaddrs) - expected_macs)[:5]}"
    assert addresses_held_twice(rows) == {}
    for addr, r in live.items():
        assert in_pool(addr), r
        assert r["valid_lifetime"] == str(lifetime), r
        assert r["subnet_id"] == str(cfg["subnet"][0]["id"]), r
        assert r["state"] == "0", r
        assert t0 + lifetime <= int(r["expire"]) <= t1 + lifetime, f"expire is not ACK time + {lifetime}: {r}"

    # The first clients come back (perfdhcp counts from the same base MAC): each gets its own
    # address again, and no new lease is made.
    # -n bounds the run to clients of the first run.
    n2 = min(acks // 2, RATE)
    again = run_perfdhcp(
        topo.client, topo.client_if, rate=RATE, clients=CLIENTS, seconds=SECONDS, base_mac=BASE_MAC,
        extra=("-n", str(n2), "-W", "2000000"),
    )  # fmt: skip
    acks2 = assert_clean_run(again, min_sent=n2)
    assert acks2 == n2, again.describe()
    rows2 = read_lease_rows(loaded.lease_file())
    live2 = live_leases(rows2)
    assert len(rows2) == len(rows) + acks2, "one row per ACK of a returning client"
    assert set(live2) == set(live), "returning clients got no new addresses"
    by_hw = {r["hwaddr"]: a for a, r in live.items()}
    moved = {r["hwaddr"]: (by_hw.get(r["hwaddr"]), r["address"]) for r in rows2[len(rows):] if by_hw.get(r["hwaddr"]) != r["address"]}
    assert moved == {}, f"returning clients given another address (hwaddr: (before, after)): {dict(list(moved.items())[:5])}"
    assert addresses_held_twice(rows2) == {}
