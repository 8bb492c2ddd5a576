#!/usr/bin/env python3
"""Configuration changes with 2,000,000 leases loaded: netdhcpd's NETCONF edit-config + commit
against Kea 2.2's `config-set` on its control socket (see README.md).

Run as root through `ONLY=commit bench/run.sh` (needs the project's .venv: paramiko). Both
servers run in bench.py's namespaces on a copy of the same gen-leases4.py file (LEASES rows
from 100.96.0.0, the upper half of the pool, so new clients get addresses from the pool's
start) with bench.py's configuration plus option 42 (NTP servers, always sent) in subnet 1.

netdhcpd (durability fsync), NETCONF on 127.0.0.1:830 in ndb-srv (this process enters it):
  - idle: COMMITS edit-config + commit changing option 42's value, and COMMITS adding or
    removing a pool (100.64.0.100-100.64.0.199), each timed by the client to the commit's <ok/>;
  - under load: perfdhcp at LOAD_RATE DORA/s for LOAD_SECONDS with no commit (baseline), then
    again with a commit every second (option 42 value and pool in turn); DISCOVERs without ACK
    counted by perfdhcp; a tcpdump capture on the client's veth checks that every ACK to a
    REQUEST sent after commit i's <ok/> carries commit i's option value (or a later one), and
    gives the longest time without any ACK.
Kea 2.2 MT (2 threads, memfile persist, never fsyncs) has no NETCONF here (kea-netconf needs
sysrepo, not in Debian 12): its counterpart is `config-set` with the whole new configuration
over the unix control socket, which reopens the memfile and reloads every lease. Measured:
KEA_COMMITS config-sets idle (time to the answer: the server does not serve meanwhile), then
perfdhcp at LOAD_RATE for KEA_LOAD_SECONDS with one config-set 3 s in.

Environment: LEASES (2000000), COMMITS (10), LOAD_RATE (2000), LOAD_SECONDS (20),
KEA_COMMITS (3), KEA_LOAD_SECONDS (60), COMMIT_ONLY (kea,nd), NETDHCPD, BENCH_WORK.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench
import ncraw
from bench import HERE, IF_CLI, IF_SRV, LEASES, NS_CLI, NS_SRV, Server, loadavg, log, netns_down, netns_up, sh

COMMITS = int(os.environ.get("COMMITS", "10"))
LOAD_RATE = int(os.environ.get("LOAD_RATE", "2000"))
LOAD_SECONDS = int(os.environ.get("LOAD_SECONDS", "20"))
KEA_COMMITS = int(os.environ.get("KEA_COMMITS", "3"))
KEA_LOAD_SECONDS = int(os.environ.get("KEA_LOAD_SECONDS", "60"))
ONLY = set(filter(None, os.environ.get("COMMIT_ONLY", "").split(",")))
LEASES_FIRST = "100.96.0.0"
EXTRA_POOL = ("100.64.0.100", "100.64.0.199")


def ntp_value(i: int) -> str:
    return f"100.64.{10 + i // 250}.{1 + i % 250}"


# ------------------------------------------------------------------ the capture


class Capture:
    """tcpdump of DHCPv4 on the client's veth (pcap, kernel timestamps), stopped by PID."""

    def __init__(self, path: Path):
        self.path = path
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", NS_CLI, "tcpdump", "-i", IF_CLI, "-n", "-U", "-B", "16384", "-s", "400",
             "-w", str(path), "udp port 67 or udp port 68"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 10
        while not (path.exists() and path.stat().st_size > 0):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("tcpdump did not start")
            time.sleep(0.05)

    def stop(self) -> str:
        time.sleep(0.3)  # the last replies reach the file (-U writes each packet)
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
        return err.decode(errors="replace")


def dhcp_packets(path: Path):
    """(timestamp, message type, xid, option 42 bytes or None) of each DHCPv4 packet in a pcap."""
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    nano = magic == 0xA1B23C4D
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[off : off + 16])
        pkt = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 15) * 4
        bootp = pkt[14 + ihl + 8 :]
        if len(bootp) < 240 or bootp[236:240] != b"\x63\x82\x53\x63":
            continue
        xid = bootp[4:8]
        mtype, opt42, i = None, None, 240
        while i < len(bootp) and bootp[i] != 255:
            code = bootp[i]
            if code == 0:
                i += 1
                continue
            if i + 1 >= len(bootp):
                break
            ln = bootp[i + 1]
            val = bootp[i + 2 : i + 2 + ln]
            if code == 53 and ln:
                mtype = val[0]
            elif code == 42:
                opt42 = bytes(val)
            i += 2 + ln
        yield ts, mtype, xid, opt42


def check_capture(path: Path, commits: list[tuple[float, str | None]]) -> dict:
    """Every ACK to a REQUEST sent after a commit's <ok/> carries that commit's option 42 value
    or a later one; and the longest time without an ACK."""
    order = {}
    for i, (_, value) in enumerate(commits):
        if value is not None:
            order[bytes(int(x) for x in value.split("."))] = i
    requests, acks, discovers, offered = {}, [], set(), set()
    for ts, mtype, xid, opt42 in dhcp_packets(path):
        if mtype == 1:
            discovers.add(xid)
        elif mtype == 2:
            offered.add(xid)
        elif mtype == 3:
            requests[xid] = ts
        elif mtype == 5:
            acks.append((ts, xid, opt42))
    acked = {xid: ts for ts, xid, _ in acks}
    latencies = sorted((acked[x] - t) * 1000 for x, t in requests.items() if x in acked)
    stale = checked = missing = 0
    for ts, xid, opt42 in acks:
        sent = requests.get(xid)
        if sent is None:
            continue
        # The newest option commit whose <ok/> came before this REQUEST left.
        due = max((i for i, (t, v) in enumerate(commits) if v is not None and t < sent), default=None)
        if due is None:
            continue
        checked += 1
        if opt42 is None:
            missing += 1
        elif order.get(opt42, -1) < due:
            stale += 1
    times = sorted(a[0] for a in acks)
    gap = max((b - a for a, b in zip(times, times[1:])), default=None)
    # Exchanges the server left unanswered, as the wire saw them (perfdhcp also counts replies
    # it received too late as lost).
    return {"acks_captured": len(acks), "acks_checked": checked, "acks_stale_option": stale,
            "acks_without_option": missing, "longest_without_ack_s": gap,
            "discovers_captured": len(discovers), "discovers_without_offer": len(discovers - offered),
            "requests_captured": len(requests), "requests_without_ack": len(set(requests) - set(acked)),
            "request_ack_p50_ms": bench.pct(latencies, 50), "request_ack_p99_ms": bench.pct(latencies, 99),
            "request_ack_max_ms": latencies[-1] if latencies else None}  # fmt: skip


def load_run(seconds: int, during) -> dict:
    """perfdhcp at LOAD_RATE for `seconds` (bench.perfdhcp, in a thread) with a capture, while
    `during(t_end)` runs in this thread; returns perfdhcp's result, the capture's check and
    what `during` returned."""
    holder: dict = {}
    cap_path = Path(tempfile.mktemp(prefix="commit-", suffix=".pcap", dir=os.environ.get("BENCH_WORK", "/tmp")))
    cap = Capture(cap_path)
    load = loadavg()
    t = threading.Thread(target=lambda: holder.update(r=bench.perfdhcp(LOAD_RATE, seconds)))
    t.start()
    time.sleep(1.0)  # perfdhcp's first DISCOVERs are out: commits start on a loaded server
    commits = during(time.monotonic() + seconds - 2)
    t.join(seconds + 60)
    cap.stop()
    r = holder.get("r", {})
    r["load"] = load
    r["capture"] = check_capture(cap_path, commits or [])
    cap_path.unlink()
    r["commits"] = commits
    return r


# ------------------------------------------------------------------ netdhcpd


def nd_option(value: str) -> str:
    return (f'<server xmlns="{ncraw.ND_NS}"><dhcpv4><subnet><id>1</id><option><code>42</code>'
            f"<format>ipv4-address-list</format><value>{value}</value><always-send>true</always-send>"
            "</option></subnet></dhcpv4></server>")  # fmt: skip


def nd_pool(add: bool) -> str:
    op = "" if add else f' xmlns:nc="{ncraw.BASE_NS}" nc:operation="remove"'
    end = f"<end>{EXTRA_POOL[1]}</end>" if add else ""
    return (f'<server xmlns="{ncraw.ND_NS}"><dhcpv4><subnet><id>1</id><pool{op}><start>{EXTRA_POOL[0]}</start>'
            f"{end}</pool></subnet></dhcpv4></server>")  # fmt: skip


def lease_reads(s: ncraw.Session, lease_file: Path) -> dict:
    """<get> of one lease of the file's middle row, by address, by subnet-id + hw-address and by
    hw-address alone, and of every lease (answered too-big): COMMITS times each, timed by the
    client."""
    middle = LEASES // 2
    with open(lease_file) as f:
        row = next(line for i, line in enumerate(f) if i == middle + 1)  # after the header
    address, hwaddr, _cid, _valid, _expire, subnet = row.split(",")[:6]
    lease = f'<server xmlns="{ncraw.ND_NS}"><state><dhcpv4><lease>{{}}</lease></dhcpv4></state></server>'
    reads = {
        "get_lease_address_ms": (lease.format(f"<address>{address}</address>"), f"<address>{address}</address>".encode()),
        "get_lease_client_ms": (lease.format(f"<subnet-id>{subnet}</subnet-id><hw-address>{hwaddr}</hw-address>"),
                                f"<address>{address}</address>".encode()),
        "get_lease_hw_only_ms": (lease.format(f"<hw-address>{hwaddr}</hw-address>"), f"<address>{address}</address>".encode()),
        "get_all_leases_ms": (f'<server xmlns="{ncraw.ND_NS}"><state><dhcpv4><lease/></dhcpv4></state></server>',
                              b"too-big"),
    }  # fmt: skip
    out: dict = {}
    for key, (subtree, expect) in reads.items():
        out[key] = []
        for _ in range(COMMITS):
            t0 = time.perf_counter()
            reply = s.rpc(f'<get><filter type="subtree">{subtree}</filter></get>')
            out[key].append((time.perf_counter() - t0) * 1000)
            if expect not in reply:
                raise RuntimeError(f"{key}: expected {expect!r} in {reply[:500]!r}")
        log(f"  netdhcpd {key}: {bench.med(out[key])}")
    return out


def bench_netdhcpd(work: Path, lease_file: Path) -> dict:
    key, pub = ncraw.client_key(work)
    settings = work / "commit-settings.toml"
    settings.write_text(ncraw.settings_toml(bench.NETDHCPD, pub))
    server = Server("nd-fsync", work / "commit-nd", lease_file, extra_args=("--settings", str(settings)))
    out: dict = {}
    try:
        out["ready_s"] = server.wait_ready(300)
        host_key = ncraw.host_key_of(server.work / "state")
        s = ncraw.Session(host_key, key_file=key)
        s.edit_commit(nd_option(ntp_value(0)))
        n = 1
        out["load_idle"] = loadavg()
        out["idle_option_ms"], out["idle_pool_ms"] = [], []
        for i in range(COMMITS):
            out["idle_option_ms"].append(s.edit_commit(nd_option(ntp_value(n))) * 1000)
            n += 1
            out["idle_pool_ms"].append(s.edit_commit(nd_pool(add=i % 2 == 0)) * 1000)
        if COMMITS % 2:
            s.edit_commit(nd_pool(add=False))
        log(f"  netdhcpd idle commit: option {bench.med(out['idle_option_ms'])} ms, pool {bench.med(out['idle_pool_ms'])} ms")
        out.update(lease_reads(s, lease_file))

        out["baseline"] = load_run(LOAD_SECONDS, lambda end: [])
        log(f"  netdhcpd baseline {LOAD_RATE}/s: {out['baseline'].get('discovers')} DISCOVERs, "
            f"{out['baseline'].get('acks')} ACKs, capture {out['baseline']['capture']}")  # fmt: skip

        load_log: list = []  # (wall-clock time of the <ok/>, option value or None, kind, ms)

        def commits_every_second(end: float) -> list:
            nonlocal n
            done, k = load_log, 0
            next_at = time.monotonic()
            while time.monotonic() < end:
                time.sleep(max(0.0, next_at - time.monotonic()))
                if k % 2 == 0:
                    value = ntp_value(n)
                    n += 1
                    ms = s.edit_commit(nd_option(value)) * 1000
                    done.append((time.time(), value, "option", ms))
                else:
                    ms = s.edit_commit(nd_pool(add=k % 4 == 1)) * 1000
                    done.append((time.time(), None, "pool", ms))
                k += 1
                next_at += 1.0
            if any(c[2] == "pool" for c in done) and sum(1 for c in done if c[2] == "pool") % 2:
                s.edit_commit(nd_pool(add=False))
            return [(t, v) for t, v, _, _ in done]

        r = load_run(LOAD_SECONDS, commits_every_second)
        out["under_load"] = r
        log(f"  netdhcpd under load: {r.get('discovers')} DISCOVERs, {r.get('acks')} ACKs, "
            f"commit ms {[round(c[3], 1) for c in load_log]}, capture {r['capture']}")  # fmt: skip
        out["load_commit_ms"] = [c[3] for c in load_log]
        out["load_commit_kinds"] = [c[2] for c in load_log]
        s.close()
        out["VmRSS_kB"] = server.memory_kb()["VmRSS"]
        return out
    finally:
        server.stop()


# ------------------------------------------------------------------ Kea


def kea_config(work: Path, ntp: str) -> dict:
    cfg = (HERE / "kea-dhcp4-mt.json.in").read_text().replace("@WORK@", str(work)).replace("@IFACE@", IF_SRV)
    doc = json.loads(cfg)
    doc["Dhcp4"]["subnet4"][0]["option-data"].append({"name": "ntp-servers", "data": ntp, "always-send": True})
    return doc


def kea_command(sock_path: Path, command: dict, timeout: float = 600) -> tuple[float, dict]:
    """One command on Kea's unix control socket; (seconds to the answer, the answer)."""
    t0 = time.perf_counter()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(json.dumps(command).encode())
        buf = b""
        while True:
            try:
                doc = json.loads(buf) if buf else None
            except ValueError:
                doc = None
            if doc is not None:
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    elapsed = time.perf_counter() - t0
    answer = json.loads(buf)
    if isinstance(answer, list):
        answer = answer[0]
    return elapsed, answer


def bench_kea(work: Path, lease_file: Path) -> dict:
    kwork = work / "commit-kea"
    server = Server("kea", kwork, lease_file)
    out: dict = {}
    sock = kwork / "kea4.sock"
    try:
        # The start-up configuration gets option 42 too, as netdhcpd's first commit does.
        (kwork / "kea-dhcp4.json").write_text(json.dumps(kea_config(kwork, ntp_value(0))))
        out["ready_s"] = server.wait_ready(300)
        out["load_idle"] = loadavg()
        out["idle_config_set_s"] = []
        for i in range(KEA_COMMITS):
            secs, ans = kea_command(sock, {"command": "config-set", "arguments": kea_config(kwork, ntp_value(i + 1))})
            if ans.get("result") != 0:
                raise RuntimeError(f"config-set failed: {ans}")
            out["idle_config_set_s"].append(secs)
            log(f"  Kea idle config-set #{i + 1}: {secs:.2f} s ({ans.get('text')})")
        out["baseline"] = load_run(LOAD_SECONDS, lambda end: [])
        log(f"  Kea baseline {LOAD_RATE}/s: {out['baseline'].get('discovers')} DISCOVERs, "
            f"{out['baseline'].get('acks')} ACKs, capture {out['baseline']['capture']}")  # fmt: skip

        def one_config_set(end: float) -> list:
            time.sleep(2.0)
            value = ntp_value(KEA_COMMITS + 1)
            secs, ans = kea_command(sock, {"command": "config-set", "arguments": kea_config(kwork, value)})
            out["load_config_set_s"] = secs
            out["load_config_set_answer"] = ans.get("text")
            return [(time.time(), value)]

        r = load_run(KEA_LOAD_SECONDS, one_config_set)
        out["under_load"] = r
        log(f"  Kea under load: {r.get('discovers')} DISCOVERs, {r.get('acks')} ACKs, config-set "
            f"{out.get('load_config_set_s')} s, capture {r['capture']}")  # fmt: skip
        out["VmRSS_kB"] = server.memory_kb()["VmRSS"]
        return out
    finally:
        server.stop()


def times(kea_value, nd_value) -> str:
    """Kea's cost over ours: "times better than Kea"."""
    if not kea_value or not nd_value:
        return "—"
    r = kea_value / nd_value
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def report(res: dict) -> str:
    nd, kea = res.get("nd", {}), res.get("kea", {})
    f = bench.fmt

    def drops(r):
        if not r:
            return None
        return int(r.get("discovers", 0) - r.get("acks", 0))

    def pctl(r):
        return None if not r else r.get("fail_pct")

    rows = [
        f"| figure ({LEASES:,} leases loaded) | Kea 2.2 MT: config-set | netdhcpd: NETCONF edit-config + commit | netdhcpd vs Kea |",
        "|---|---|---|---|",
    ]
    kea_idle_ms = [s * 1000 for s in kea.get("idle_config_set_s", [])]
    for label, vals in (("change option 42's value", nd.get("idle_option_ms")), ("add or remove a pool", nd.get("idle_pool_ms"))):
        ratio = times(bench.med(kea_idle_ms)[0], bench.med(vals)[0]) if kea_idle_ms and vals else "—"
        rows.append(f"| idle: time of one change, client-measured (ms) — {label} | "
                    f"{f(kea_idle_ms, '', 0) if kea_idle_ms else '—'} (whole configuration) | {f(vals or [], '', 2)} | {ratio} |")  # fmt: skip
    for key, label in (("get_lease_address_ms", "one lease by address"),
                       ("get_lease_client_ms", "one lease by subnet-id and hw-address"),
                       ("get_lease_hw_only_ms", "one lease by hw-address alone (a walk over every lease)"),
                       ("get_all_leases_ms", "every lease (answered too-big)")):  # fmt: skip
        if nd.get(key):
            rows.append(f"| idle: NETCONF <get> of the lease list, {label} (ms) | — | {f(nd[key], '', 2)} | — |")
    for key, label in (("baseline", "no change"), ("under_load", "changes during the run")):
        k, n = kea.get(key), nd.get(key)
        ksec = KEA_LOAD_SECONDS if key == "under_load" else LOAD_SECONDS
        rows.append(f"| {LOAD_RATE:,} DORA/s, {label}: DISCOVERs without ACK (Kea {ksec} s, netdhcpd {LOAD_SECONDS} s) | "
                    f"{drops(k)} of {int(k['discovers']) if k else '—'} ({pctl(k) or 0:.2f}%) | "
                    f"{drops(n)} of {int(n['discovers']) if n else '—'} ({pctl(n) or 0:.2f}%) | — |")  # fmt: skip
        kg = k and k["capture"]["longest_without_ack_s"]
        ng = n and n["capture"]["longest_without_ack_s"]
        rows.append(f"| {LOAD_RATE:,} DORA/s, {label}: longest time without an ACK (s) | "
                    f"{kg if kg is None else f'{kg:.3f}'} | {ng if ng is None else f'{ng:.3f}'} | "
                    f"{times(kg, ng)} |")  # fmt: skip
    for key, label in (("baseline", "no change"), ("under_load", "changes during the run")):
        k, n = kea.get(key), nd.get(key)

        def wire(r):
            if not r or "requests_without_ack" not in r["capture"]:
                return "—"
            c = r["capture"]
            return (f"{c['discovers_without_offer']} DISCOVERs without OFFER, {c['requests_without_ack']} REQUESTs "
                    f"without ACK; REQUEST-ACK p50/p99/max {c['request_ack_p50_ms']:.2f}/{c['request_ack_p99_ms']:.2f}/"
                    f"{c['request_ack_max_ms']:.0f} ms")  # fmt: skip
        rows.append(f"| {LOAD_RATE:,} DORA/s, {label}: on the wire (capture) | {wire(k)} | {wire(n)} | — |")
    if nd.get("load_commit_ms"):
        rows.append(f"| under load: commit time, client-measured (ms) | {kea.get('load_config_set_s', 0) * 1000:,.0f} (one) | "
                    f"{f(nd['load_commit_ms'], '', 2)} ({len(nd['load_commit_ms'])}) | — |")  # fmt: skip
    for who, r in (("Kea", kea.get("under_load")), ("netdhcpd", nd.get("under_load"))):
        if r:
            c = r["capture"]
            rows.append(f"\n{who} under load, ACKs to REQUESTs sent after a change's answer: {c['acks_checked']} checked, "
                        f"{c['acks_stale_option']} with an older option 42 value, {c['acks_without_option']} without option 42.")  # fmt: skip
    loads = [v for side in (nd, kea) for v in ([side.get("load_idle")] + [side.get(k, {}).get("load") for k in ("baseline", "under_load")]) if v]
    if loads:
        rows.append(f"1-minute load average at the start of each measurement: {min(l[0] for l in loads):.2f}–{max(l[0] for l in loads):.2f}")
    return "\n".join(rows)


def main() -> int:
    if os.geteuid() != 0:
        print("commit.py needs root (network namespaces)", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-bench-commit."))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["BENCH_WORK"] = str(work)
    started = time.monotonic()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "netdhcpd": str(bench.NETDHCPD),
                     "leases": LEASES, "rate": LOAD_RATE}  # fmt: skip
    lease_file = work / "leases4-commit.csv"
    try:
        log(f"generating {LEASES:,} leases from {LEASES_FIRST}")
        sh(sys.executable, str(HERE / "gen-leases4.py"), str(lease_file), str(LEASES), LEASES_FIRST, timeout=300)
        netns_up()
        ncraw.enter_netns(NS_SRV)
        if not ONLY or "nd" in ONLY:
            log("netdhcpd (durability fsync), NETCONF commits")
            results["nd"] = bench_netdhcpd(work, lease_file)
        if not ONLY or "kea" in ONLY:
            log("Kea 2.2 MT, config-set")
            results["kea"] = bench_kea(work, lease_file)
    finally:
        netns_down()
        lease_file.unlink(missing_ok=True)
        (work / "results-commit.json").write_text(json.dumps(results, indent=1, default=str))
    print()
    print(f"Commits with {LEASES:,} leases, {results['date']}, {time.monotonic() - started:.0f} s in all")
    print(report(results))
    print(f"\nRaw results (with the perfdhcp commands): {work / 'results-commit.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
