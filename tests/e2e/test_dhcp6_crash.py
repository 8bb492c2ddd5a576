"""kill -9 under DHCPv6 load: no REPLYed lease is lost or given to another client.

Each round: tcpdump captures DHCPv6 on the client's veth, perfdhcp -6 runs 4-way exchanges of
new clients (at most 4 s), and after a random 0.5-3 s netdhcpd is killed with SIGKILL. The
capture holds every REPLY the server put on the wire before it died. The daemon is started
again on the same state directory, and:

  - every (address, DUID) granted in a REPLY so far, in any round, is in leases6.csv: the last
    row for the address has that DUID and a valid lifetime;
  - no address was granted to two DUIDs, on the wire or in the file.

The random delays come from a seed printed in every failure (CRASH_SEED=<seed> repeats it).
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import time

import pytest

from configs6 import server6_xml, setup_ipv6, standard_dhcp6, standard_subnets6
from dhcp6_client import Capture6, V6Client, pcap_replies
from loadtools import parse_perfdhcp

ROUNDS = 3
RATE = 500
SECONDS = 4
POOL = {"start": "2001:db8:1::1:0", "end": "2001:db8:1::ffff:ffff"}


@pytest.fixture
def seed():
    s = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"CRASH_SEED={s}")
    return s


def last_rows(path) -> dict[str, dict]:
    last = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            last[(r["lease_type"], r["address"])] = r
    return last


def test_kill9_under_v6_load_loses_no_replied_lease(start_daemon, topo, tmp_path, seed):
    rng = random.Random(seed)
    setup_ipv6(topo)
    subnets = standard_subnets6(topo.server_if, pool=[POOL], reservation=[])
    d = start_daemon(server6_xml(standard_dhcp6(topo.server_if, subnets=subnets)))
    client = V6Client(topo.client, topo.client_if, topo.client_mac)
    granted: dict[str, bytes] = {}
    conflicts = []
    history = []
    for rnd in range(ROUNDS):
        cap = Capture6(topo.client, topo.client_if, tmp_path / f"round{rnd}.pcap").start()
        # New clients every round: perfdhcp varies the last bytes of this DUID-LLT.
        duid = f"00010001{rnd + 1:08x}02aa00000000"
        cmd = ["perfdhcp", "-6", "-l", topo.client_if, "-r", str(RATE), "-R", "1000000", "-p", str(SECONDS),
               "-b", f"duid={duid}"]  # fmt: skip
        perf = topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        delay = rng.uniform(0.5, 3.0)
        time.sleep(delay)  # the moment of the crash: random by design, not a wait for readiness
        d.assert_running()
        d.kill9()
        if perf.poll() is None:
            os.kill(perf.pid, signal.SIGINT)
        try:
            out, err = perf.communicate(timeout=SECONDS + 20)
        except subprocess.TimeoutExpired:
            os.kill(perf.pid, signal.SIGKILL)
            out, err = perf.communicate(timeout=10)
        cap.flush(client)
        cap.stop()
        replies = pcap_replies(cap.path)
        note = f"seed {seed}, round {rnd}, kill after {delay:.2f}s, {len(replies)} addresses REPLYed ({cap.report.strip()!r})"
        history.append(note)
        print(note)
        assert replies, f"no REPLY captured before the kill: {note}\n{out}\n{err}\n{parse_perfdhcp(out)}"
        for addr, duid_bytes, _ in replies:
            prev = granted.get(addr)
            if prev is not None and prev != duid_bytes:
                conflicts.append((addr, prev.hex(), duid_bytes.hex(), rnd))
            granted.setdefault(addr, duid_bytes)
        assert not conflicts, f"addresses granted to two clients: {conflicts[:10]}\n{history}"

        d.start()
        last = last_rows(d.state_dir / "leases6.csv")
        missing, wrong = [], []
        for addr, duid_bytes in granted.items():
            row = last.get(("0", addr))
            if row is None:
                missing.append(addr)
            elif row["duid"] != duid_bytes.hex(":") or int(row["valid_lifetime"]) <= 0:
                wrong.append((addr, duid_bytes.hex(":"), row["duid"], row["valid_lifetime"]))
        assert not missing and not wrong, (
            f"after round {rnd}: {len(missing)} REPLYed leases missing from leases6.csv (e.g. {missing[:5]}), "
            f"{len(wrong)} with another DUID or no lifetime (e.g. {wrong[:5]})\n" + "\n".join(history)
        )
