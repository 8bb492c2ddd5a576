"""A commit under load: perfdhcp (ISC, kea-admin) at a steady rate while NETCONF commits change
an option and add a subnet every second for 10 s. No exchange may be dropped, and the replies
after each commit carry the new option value.

perfdhcp runs in the client namespace from 100.64.0.2/10 as a relay would (giaddr 100.64.0.2,
so subnet 1 answers); the per-commit check is a DORA from the harness's client on the same veth
asking for option 42. The subnets added are 100.65.N.0/24: inside the test range, outside
subnet 1, never the target of any packet.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from client import mac
from loadtools import Capture, finish_perfdhcp, perfdhcp_cmd
from netconf_tools import (
    PRL,
    leaves,
    nc_config,
    nc_env_factory,  # noqa: F401 (fixture)
    nc_subnet,
    ndhcp,
    pcap_dhcp,
    subnet_xml,
)

RATE = 500
COMMITS = 10
PERF_SECONDS = COMMITS + 3  # covers the commit window with margin on both sides
BASE_MAC = "02:4d:00:00:00:00"
CLIENTS = 1_000_000


@pytest.fixture
def env(nc_env_factory, topo):
    subnet = nc_subnet(
        pool=("100.64.1.0", "100.64.100.255"),
        option=[{"code": 42, "format": "ipv4-address-list", "value": "100.64.0.1", "always-send": True}],
    )
    e = nc_env_factory(nc_config(topo.server_if, subnets=[subnet]))
    topo.client_add_address("100.64.0.2/10")
    return e


def test_commits_under_perfdhcp_load(env, topo, client, tmp_path):
    s = env.connect()
    # Everything the server sends and receives, timestamped by the kernel on its interface: a
    # REQUEST seen after commit i returned must be ACKed with commit i's option value or later.
    cap = Capture(topo.server, topo.server_if, tmp_path / "server.pcap").start()
    cmd = perfdhcp_cmd(topo.client_if, rate=RATE, clients=CLIENTS, seconds=PERF_SECONDS, base_mac=BASE_MAC, extra=("-W", "2000000"))
    perf = topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    committed = []  # (wall-clock time the commit's <ok/> arrived, option 42 value)
    try:
        t_start = time.monotonic()
        for i in range(COMMITS):
            # One commit a second, paced from the start (not a readiness wait).
            pause = t_start + 1.0 + i - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            assert perf.poll() is None, f"perfdhcp ended early: {perf.communicate(timeout=10)}"
            value = f"100.64.0.{10 + i}"
            edit = ndhcp(
                f"<dhcpv4><subnet><id>1</id><option><code>42</code><value>{value}</value></option></subnet>"
                + subnet_xml(100 + i, f"100.65.{i}.0/24", [(f"100.65.{i}.10", f"100.65.{i}.200")])
                + "</dhcpv4>"
            )  # fmt: skip
            s.edit(edit).assert_ok()
            t0 = time.monotonic()
            s.commit().assert_ok()
            committed.append((time.time(), value, time.monotonic() - t0))
    finally:
        res = finish_perfdhcp(perf, cmd, timeout=PERF_SECONDS + 30)
        try:
            cap.flush()
        finally:
            report = cap.stop()
    d = res.describe() + f"\ncommit durations: {[round(c[2], 3) for c in committed]}\ntcpdump: {report}"

    do_sent, do_rcvd = res.get("DISCOVER-OFFER", "sent packets"), res.get("DISCOVER-OFFER", "received packets")
    ra_sent, ra_rcvd = res.get("REQUEST-ACK", "sent packets"), res.get("REQUEST-ACK", "received packets")
    assert do_sent >= RATE * PERF_SECONDS // 3, f"perfdhcp sent only {do_sent} DISCOVERs\n{d}"
    assert res.get("DISCOVER-OFFER", "drops") == 0, d
    assert res.get("REQUEST-ACK", "drops") == 0, d
    assert do_rcvd == do_sent and ra_sent == do_rcvd and ra_rcvd == ra_sent, d
    for exchange in ("DISCOVER-OFFER", "REQUEST-ACK"):
        assert res.get(exchange, "rejected leases") == 0, d
    assert res.returncode == 0, d
    assert re.search(r"(^|\n)0 packets dropped by kernel", report), f"the capture must be complete to judge every ACK: {report}"

    # Every ACK, matched to its REQUEST by xid: the value it carries is that of the last
    # commit that had returned before the REQUEST reached the server (or a later one).
    msgs = pcap_dhcp(tmp_path / "server.pcap")
    requests = {}
    for ts, m in msgs:
        if m.get("message_type") == "request" and m["xid"] not in requests:
            requests[m["xid"]] = ts
    values = ["100.64.0.1"] + [v for _, v, _ in committed]
    acks_after = [0] * len(committed)
    stale = []
    n_acks = 0
    for _ts, m in msgs:
        if m.get("message_type") != "ack" or m["xid"] not in requests:
            continue
        n_acks += 1
        got = m.get("ntp_server")
        assert got is not None and len(got) == 1, f"option 42 is always-send: {m}"
        req_ts = requests[m["xid"]]
        done = [i for i, (t, _, _) in enumerate(committed) if t < req_ts]
        if done:
            acks_after[done[-1]] += 1
            if values.index(got[0]) < done[-1] + 1:
                stale.append((m["xid"], got[0], values[done[-1] + 1], round(req_ts - committed[done[-1]][0], 4)))
    assert n_acks == ra_rcvd, f"{n_acks} ACKs captured for {ra_rcvd} perfdhcp received\n{d}"
    assert all(n > 0 for n in acks_after), f"ACKs between commits: {acks_after}\n{d}"
    assert stale == [], f"{len(stale)} ACKs to REQUESTs that arrived after a commit carry an older value (xid, got, expected, s after commit): {stale[:10]}"

    # After the last commit: running holds every change, and a fresh client gets the last value.
    run = s.config_data("running")
    assert leaves(run, "d:server/d:dhcpv4/d:subnet/d:id") == ["1"] + [str(100 + i) for i in range(COMMITS)]
    ack = client.lease(mac=mac(0x200), prl=PRL)
    assert ack.ntp_server == [values[-1]], ack.brief()
    env.daemon.assert_running()
