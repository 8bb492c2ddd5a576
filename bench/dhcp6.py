#!/usr/bin/env python3
"""netdhcpd against ISC Kea 2.2, DHCPv6, in the namespaces of bench.py (see README.md).

Run as root through `ONLY=v6 bench/run.sh`. The namespaces ndb-srv / ndb-cli of bench.py get
IPv6 too: 2001:db8:1::1/64 on the server end (no DAD: the benchmark owns the link) and the
link-local addresses both ends make; perfdhcp -6 sends its SOLICITs from the client's
link-local address to ff02::1:2 on that veth, and both servers answer it there. For Kea 2.2
multi-threaded (2 threads, kea-dhcp6-mt.json.in) and netdhcpd with durability fsync (the
default: a REPLY leaves only after its lease row is fsynced; netdhcpd6.xml.in), without and
with receive-coalescing 1,000 µs, each started fresh for every repeat with an empty lease
file:

  - fixed rates (1,000 and 2,000 SARR/s, 6 s): server CPU per SARR (utime + stime over the
    REPLYs received), REQUEST-REPLY and SOLICIT-ADVERTISE latency percentiles (-x t);
  - the knee: the highest offered rate with under 1% of SOLICITs without a REPLY (bench.knee);
  - start-up with LEASES (2,000,000) v6 leases (gen-leases6.py): exec to ready (Kea's
    DHCP6_STARTED, netdhcpd's READY=1), VmRSS/VmHWM 2 s after.

Environment: as bench.py (REPEATS, STEP_SECONDS, MAX_STEPS, LEASES, NETDHCPD, BENCH_WORK), and
V6_ONLY (comma list of kea,nd-fsync,nd-fsync-c1,startup) for a subset.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench
from bench import (
    FIXED_RATES,
    FIXED_SECONDS,
    HERE,
    IF_CLI,
    IF_SRV,
    LEASES,
    NS_CLI,
    NS_SRV,
    REPEATS,
    Server,
    delays_ms,
    fmt,
    knee,
    loadavg,
    log,
    netns_down,
    netns_up,
    pct,
    ratio,
    sh,
    stat_block,
)

SERVER6 = "2001:db8:1::1"
SERVERS6 = {
    "kea": "Kea 2.2 MT (2 threads)",
    "nd-fsync": "netdhcpd durability fsync",
    "nd-fsync-c1": "netdhcpd durability fsync, receive-coalescing 1,000 µs",
}
# receive-coalescing (µs) of each netdhcpd kind; 0 is the default: no wait.
COALESCING6 = {"nd-fsync": 0, "nd-fsync-c1": 1000}
# Start-up does not depend on coalescing: measured once per server.
STARTUP_KINDS6 = ("kea", "nd-fsync")
ONLY6 = set(filter(None, os.environ.get("V6_ONLY", "").split(",")))
LEASES6_FIRST = "2001:db8:1::8000:0"  # upper half of the pool: new clients never walk them

_run_counter = 0


def netns6_up():
    """bench.netns_up() plus IPv6: the server's global address and both link-locals ready."""
    netns_up()  # its IPv4 addresses stay: perfdhcp -6 does not use them
    sh("ip", "-n", NS_SRV, "addr", "add", f"{SERVER6}/64", "dev", IF_SRV, "nodad")
    deadline = time.monotonic() + 15
    for ns, dev in ((NS_SRV, IF_SRV), (NS_CLI, IF_CLI)):
        while True:
            addrs = json.loads(sh("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", dev).stdout)
            infos = [a for link in addrs for a in link.get("addr_info", [])]
            if any(a["local"].startswith("fe80") for a in infos) and not any(a.get("tentative") for a in infos):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ns}/{dev}: no usable link-local address within 15 s")
            time.sleep(0.05)


class Server6(Server):
    """A DHCPv6 server in NS_SRV: Kea's kea-dhcp6 or netdhcpd with a DHCPv6 configuration."""

    def __init__(self, kind: str, work: Path, lease_file: Path | None = None, extra_args=()):
        self.kind, self.work = kind, work
        work.mkdir(parents=True)
        self.log_path = work / "server.log"
        env = dict(os.environ)
        if kind == "kea":
            cfg = (HERE / "kea-dhcp6-mt.json.in").read_text()
            cfg = cfg.replace("@WORK@", str(work)).replace("@IFACE@", IF_SRV).replace("@DNS@", SERVER6)
            (work / "kea-dhcp6.json").write_text(cfg)
            if lease_file:
                shutil.copyfile(lease_file, work / "kea-leases6.csv")
            env["KEA_PIDFILE_DIR"] = str(work)
            env["KEA_LOCKFILE_DIR"] = str(work)
            cmd = ["kea-dhcp6", "-c", str(work / "kea-dhcp6.json")]
        else:
            cfg = (HERE / "netdhcpd6.xml.in").read_text()
            cfg = cfg.replace("@DURABILITY@", "fsync").replace("@IFACE@", IF_SRV).replace("@DNS@", SERVER6)
            cfg = cfg.replace("@COALESCING@", bench.coalescing_xml(COALESCING6[kind]))
            (work / "config.xml").write_text(cfg)
            state = work / "state"
            state.mkdir()
            if lease_file:
                shutil.copyfile(lease_file, state / "leases6.csv")
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(str(work / "notify.sock"))
            env["NOTIFY_SOCKET"] = str(work / "notify.sock")
            cmd = [str(bench.NETDHCPD), "run", "--state-dir", str(state), "--startup", str(work / "config.xml"),
                   *extra_args]  # fmt: skip
        self.started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NS_SRV, *cmd], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float) -> float:
        if self.kind != "kea":
            return super().wait_ready(timeout)
        deadline = self.started + timeout
        log_file = self.work / "kea6.log"
        while time.monotonic() < deadline:
            if log_file.exists() and "DHCP6_STARTED" in log_file.read_text(errors="replace"):
                return time.monotonic() - self.started
            self._check_alive()
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"kea-dhcp6 not ready within {timeout}s; see {self.log_path}")


def perfdhcp6(rate: int, seconds: int, timers: bool = False) -> dict:
    """perfdhcp -6 (SOLICIT-ADVERTISE-REQUEST-REPLY) from the client namespace, new DUIDs
    every run (the DUID-LLT's time field counts the runs; perfdhcp varies its last bytes)."""
    global _run_counter
    _run_counter += 1
    duid = f"00010001{0x6b000000 + _run_counter:08x}0e0000000000"
    cmd = ["perfdhcp", "-6", "-l", IF_CLI, "-r", str(rate), "-R", "10000000", "-p", str(seconds),
           "-W", "500000", "-b", f"duid={duid}"]  # fmt: skip
    if timers:
        cmd += ["-x", "t"]
    load = loadavg()
    p = subprocess.run(["ip", "netns", "exec", NS_CLI, *cmd], capture_output=True, text=True, timeout=seconds + 30)
    sa, rr = stat_block(p.stdout, "SOLICIT-ADVERTISE"), stat_block(p.stdout, "REQUEST-REPLY")
    sent = sa.get("sent packets", 0)
    replies = rr.get("received packets", 0)
    res = {
        "rate": rate,
        "discovers": sent,  # SOLICITs: bench.knee reads the same keys for both families
        "acks": replies,  # REPLYs to REQUEST
        "fail_pct": 100.0 if sent == 0 else 100.0 * (1 - replies / sent),
        "offered_per_s": sent / seconds,
        "cmd": " ".join(cmd),
        "load": load,
    }
    if timers:
        rr_d, sa_d = delays_ms(p.stdout, "REQUEST-REPLY"), delays_ms(p.stdout, "SOLICIT-ADVERTISE")
        res.update(ra_p50=pct(rr_d, 50), ra_p99=pct(rr_d, 99), do_p50=pct(sa_d, 50), do_p99=pct(sa_d, 99))
    if sent == 0:
        res["stderr"] = p.stderr[-500:] + p.stdout[-500:]
    return res


def exchange_bench6(kind: str, work: Path, rep: int) -> dict:
    server = Server6(kind, work / f"v6-{kind}-{rep}")
    try:
        server.wait_ready(60)
        time.sleep(0.5)
        out = {}
        for rate in FIXED_RATES:
            c0 = server.cpu_seconds()
            r = perfdhcp6(rate, FIXED_SECONDS, timers=True)
            c1 = server.cpu_seconds()
            r["cpu_us_per_exchange"] = (c1 - c0) * 1e6 / r["acks"] if r["acks"] else None
            log(f"  v6 {kind} #{rep} fixed {rate}/s: cpu {r['cpu_us_per_exchange']} us/SARR, "
                f"RR p50/p99 {r.get('ra_p50')}/{r.get('ra_p99')} ms, failed {r['fail_pct']:.2f}%, load {r['load']}")  # fmt: skip
            if r["discovers"] == 0:
                log(f"  perfdhcp sent nothing: {r.get('stderr')}")
            out[f"fixed_{rate}"] = r
        load = loadavg()
        out["knee"] = knee(server, run=perfdhcp6)
        out["knee"]["load"] = [load, loadavg()]
        log(f"  v6 {kind} #{rep} knee {out['knee']['knee']}/s")
        return out
    finally:
        server.stop()


def startup_bench6(kind: str, work: Path, rep: int, lease_file: Path) -> dict:
    server = Server6(kind, work / f"start6-{kind}-{rep}", lease_file)
    try:
        load = loadavg()
        ready = server.wait_ready(300)
        time.sleep(2)
        mem = server.memory_kb()
        log(f"  v6 start-up {kind} #{rep}: ready {ready:.2f}s, VmRSS {mem['VmRSS'] / 1024:.0f} MB, load {load}")
        return {"ready_s": ready, "load": load, **mem}
    finally:
        server.stop()
        shutil.rmtree(server.work, ignore_errors=True)


def report6(results: dict) -> str:
    ex, st = results.get("exchange6", {}), results.get("startup6", {})
    kinds = [k for k in SERVERS6 if k in ex or k in st]

    def get(kind, *path):
        out = []
        for rep in ex.get(kind, []):
            v = rep
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            out.append(v)
        return out

    figures = [("SARR/s at the knee (<1% failed)", lambda k: get(k, "knee", "knee"), 0, False)]
    for rate in FIXED_RATES:
        figures += [
            (f"server CPU µs per SARR at {rate:,}/s", lambda k, r=rate: get(k, f"fixed_{r}", "cpu_us_per_exchange"), 0, True),
            (f"REQUEST-REPLY p50 at {rate:,}/s (ms)", lambda k, r=rate: get(k, f"fixed_{r}", "ra_p50"), 2, True),
            (f"REQUEST-REPLY p99 at {rate:,}/s (ms)", lambda k, r=rate: get(k, f"fixed_{r}", "ra_p99"), 2, True),
            (f"SOLICIT-ADVERTISE p50 at {rate:,}/s (ms)", lambda k, r=rate: get(k, f"fixed_{r}", "do_p50"), 2, True),
            (f"SOLICIT-ADVERTISE p99 at {rate:,}/s (ms)", lambda k, r=rate: get(k, f"fixed_{r}", "do_p99"), 2, True),
        ]
    figures += [
        (f"start-up with {LEASES:,} v6 leases (s)", lambda k: [r["ready_s"] for r in st.get(k, [])], 2, True),
        (f"VmRSS with {LEASES:,} v6 leases (MB)", lambda k: [r["VmRSS"] / 1024 for r in st.get(k, [])], 0, True),
        (f"VmHWM with {LEASES:,} v6 leases (MB)", lambda k: [r["VmHWM"] / 1024 for r in st.get(k, [])], 0, True),
    ]
    ours = [k for k in kinds if k != "kea"] if "kea" in kinds else []
    rows = ["| figure | " + " | ".join(SERVERS6[k] for k in kinds) + "".join(f" | {k} vs Kea" for k in ours) + " |"]
    rows.append("|" + "---|" * (1 + len(kinds) + len(ours)))
    for name, getter, digits, lower_better in figures:
        cells = [fmt(getter(k), "", digits) for k in kinds]
        if all(c == "—" for c in cells):
            continue
        for k in ours:
            cells.append(ratio(getter(k), getter("kea"), invert=lower_better))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    loads = [r["load"][0] for k in ex for rep in ex[k] for key, r in rep.items() if key.startswith("fixed_")]
    loads += [r["load"][0] for k in st for r in st[k]]
    if loads:
        rows.append(f"\n1-minute load average at the start of each measurement: {min(loads):.2f}–{max(loads):.2f}")
    return "\n".join(rows)


def main() -> int:
    if os.geteuid() != 0:
        print("dhcp6.py needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", "kea-dhcp6", "ip"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install kea-dhcp6-server kea-admin iproute2", file=sys.stderr)
            return 2
    if not bench.NETDHCPD.exists():
        print(f"{bench.NETDHCPD} not found: cargo build --release -p netdhcpd", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-bench6."))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machine = {
        "nproc": os.cpu_count(),
        "kea": sh("kea-dhcp6", "-v").stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "netdhcpd": str(bench.NETDHCPD),
        "repeats": REPEATS,
    }
    log(f"work directory {work}; machine {machine}")
    results: dict = {"machine": machine, "exchange6": {}, "startup6": {}}

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        netns6_up()
        for rep in range(1, REPEATS + 1):
            for kind in SERVERS6:
                if ONLY6 and kind not in ONLY6:
                    continue
                log(f"v6 {SERVERS6[kind]}: run {rep}/{REPEATS}")
                results["exchange6"].setdefault(kind, []).append(exchange_bench6(kind, work, rep))
        if not ONLY6 or "startup" in ONLY6:
            lease_file = work / "leases6-2m.csv"
            log(f"generating {LEASES:,} v6 leases in {lease_file}")
            sh(sys.executable, str(HERE / "gen-leases6.py"), str(lease_file), str(LEASES), LEASES6_FIRST, timeout=300)
            for rep in range(1, REPEATS + 1):
                for kind in STARTUP_KINDS6:
                    results["startup6"].setdefault(kind, []).append(startup_bench6(kind, work, rep, lease_file))
            lease_file.unlink()
    finally:
        netns_down()
        (work / "results6.json").write_text(json.dumps(results, indent=1))
    print()
    print(f"DHCPv6. Kea {machine['kea']}; {machine['date']}; medians of {REPEATS} runs [min–max]; "
          f"{time.monotonic() - started:.0f} s in all")  # fmt: skip
    print(report6(results))
    print(f"\nRaw results (with every perfdhcp command): {work / 'results6.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
