"""kill -9 under load: no ACKed lease is ever lost or given to another client.

Each round: tcpdump starts capturing DHCP on the client's veth, perfdhcp offers 800 DORA/s of
new clients (at most 4 s), and after a random 0.5-3 s netdhcpd is killed with SIGKILL. The
capture then holds every DHCPACK the server put on the wire before it died. The daemon is
started again on the same state directory (ready when it sends READY=1), and:

  - every (address, chaddr) ACKed so far, in any round, is in leases4.csv: the last row for
    the address has that hwaddr and a valid lifetime;
  - a sample of those clients, asked again (DISCOVER), is offered the same address;
  - no address was ACKed to two clients, on the wire or in the file.

The random delays come from a seed printed in every failure, so a failing run can be
repeated with CRASH_SEED=<seed>.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from configs import server_xml, standard_dhcp4, standard_subnet
from loadtools import (
    Capture,
    addresses_held_twice,
    exchanges,
    finish_perfdhcp,
    pcap_acks,
    perfdhcp_cmd,
    read_lease_rows,
)

ROUNDS = 4
RATE = 800
SECONDS = 4  # perfdhcp's own limit per round (-p)
CLIENTS = 1_000_000
SAMPLE = 20  # clients per round asked again after the restart
POOL = {"start": "100.64.1.0", "end": "100.64.63.255"}  # 16,128 addresses >= 4 rounds x 4 s x 800/s
PERF_ADDR = "100.64.0.2/10"


@pytest.fixture
def seed():
    s = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"CRASH_SEED={s}")
    return s


def test_kill9_under_load_loses_no_acked_lease(start_daemon, topo, tmp_path, seed):
    rng = random.Random(seed)
    cfg = standard_dhcp4(topo.server_if, subnet=standard_subnet(pool=[POOL], reservation=[]))
    d = start_daemon(server_xml(dhcpv4=cfg))
    topo.client_add_address(PERF_ADDR)
    acked: dict[str, str] = {}  # address -> chaddr, every ACK seen on the wire in any round
    wire_conflicts = []
    history = []

    for rnd in range(ROUNDS):
        base_mac = f"02:c{rnd}:00:00:00:00"  # new clients every round
        cap = Capture(topo.client, topo.client_if, tmp_path / f"round{rnd}.pcap").start()
        cmd = perfdhcp_cmd(topo.client_if, rate=RATE, clients=CLIENTS, seconds=SECONDS, base_mac=base_mac)
        perf = topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        delay = rng.uniform(0.5, 3.0)
        time.sleep(delay)  # the moment of the crash: random by design, not a wait for readiness
        d.assert_running()
        d.kill9()
        # perfdhcp has nothing more to learn: SIGINT makes it print its report and exit.
        if perf.poll() is None:
            os.kill(perf.pid, signal.SIGINT)
        res = finish_perfdhcp(perf, cmd, timeout=SECONDS + 20)
        cap.flush()  # every packet up to now is in the pcap
        cap.stop()
        acks = pcap_acks(cap.path)
        note = f"seed {seed}, round {rnd}, kill after {delay:.2f}s, {len(acks)} ACKs on the wire ({cap.report.strip()!r})"
        history.append(note)
        print(note)
        assert acks, f"no DHCPACK captured before the kill: {note}\n{res.describe()}"
        round_pairs = {}
        for a in acks:
            prev = acked.get(a.yiaddr)
            if prev is not None and prev != a.chaddr:
                wire_conflicts.append((a.yiaddr, prev, a.chaddr, rnd))
            acked.setdefault(a.yiaddr, a.chaddr)
            round_pairs[a.yiaddr] = a.chaddr
        assert not wire_conflicts, f"addresses ACKed to two clients (address, first, second, round): {wire_conflicts[:10]}\n{history}"

        d.start()

        # Every ACK of every round so far is in the file, with its client.
        rows = read_lease_rows(d.lease_file())
        last = {}
        for r in rows:
            last[r["address"]] = r
        missing = [(addr, hw) for addr, hw in acked.items() if addr not in last]
        wrong = [
            (addr, hw, last[addr]["hwaddr"], last[addr]["valid_lifetime"])
            for addr, hw in acked.items()
            if addr in last and (last[addr]["hwaddr"] != hw or int(last[addr]["valid_lifetime"]) <= 0)
        ]
        assert not missing and not wrong, (
            f"after round {rnd}: {len(missing)} ACKed leases missing from leases4.csv (e.g. {missing[:5]}), "
            f"{len(wrong)} with another hwaddr or no lifetime (address, acked to, file hwaddr, lifetime; e.g. {wrong[:5]})\n"
            + "\n".join(history)
        )

        # A sample of this round's clients (and a few of earlier rounds) get the same offer.
        sample = rng.sample(sorted(round_pairs.items()), min(SAMPLE, len(round_pairs)))
        earlier = sorted(set(acked.items()) - set(round_pairs.items()))
        sample += rng.sample(earlier, min(5, len(earlier)))
        # The same client as perfdhcp's: its chaddr and the client identifier it sent (the
        # lease row keeps it).
        clients = [(hw, last[addr]["client_id"] or None) for addr, hw in sample]
        offers = exchanges(topo.client, topo.client_if, "discover", clients, timeout=2.0)
        bad = []
        for addr, hw in sample:
            o = offers.get(hw)
            got = None if o is None else (o.get("message_type"), o.get("yiaddr"))
            if got != ("offer", addr):
                bad.append((hw, addr, got))
        assert not bad, f"after round {rnd}, clients not re-offered their ACKed address (chaddr, acked, got): {bad}\n{history}"

    rows = read_lease_rows(d.lease_file())
    assert addresses_held_twice(rows) == {}, "an address held by two hwaddrs in the final file"
