#!/usr/bin/env python3
"""netdhcpd against ISC Kea 2.2, DHCPv4, in network namespaces of its own (see README.md).

Run as root through bench/run.sh (which builds the release binary first). Creates namespaces
ndb-srv and ndb-cli joined by the veth pair ndb-s / ndb-c (100.64.0.1/10 and 100.64.0.2/10:
traffic never leaves them), then for each server in turn (Kea multi-threaded, netdhcpd with
durability fsync, netdhcpd with durability none, netdhcpd with durability fsync and
receive-coalescing 1,000 µs):

  - fixed-rate runs (perfdhcp at 1,000 and 2,000 DORA/s): server CPU per exchange from
    /proc/PID/stat, REQUEST-ACK and DISCOVER-OFFER latency percentiles from perfdhcp's
    per-exchange timestamps (-x t);
  - the knee: the highest offered rate with under 1% failed exchanges (DISCOVERs sent without
    an ACK), found by doubling then bisecting, at most MAX_STEPS runs of STEP_SECONDS;
  - start-up with 2,000,000 leases in the memfile: time from exec to ready (Kea's
    DHCP4_STARTED log line; netdhcpd's READY=1 on NOTIFY_SOCKET) and VmRSS/VmHWM.

Every step is repeated REPEATS times on a fresh server; the table shows medians and
[min-max]. Everything is bounded in count and time; servers are stopped by PID and the
namespaces deleted on exit.

Environment: REPEATS (3), STEP_SECONDS (4), MAX_STEPS (8), LEASES (2000000),
NETDHCPD (target/release/netdhcpd), BENCH_WORK (a fresh /tmp directory), ONLY (comma list of
kea,nd-fsync,nd-none,nd-fsync-c1,startup to run a subset; floor-none and floor-fsync, the minimal responder
floor_responder.c that measures the kernel's share of a DORA, run only when ONLY names them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NS_SRV, NS_CLI = "ndb-srv", "ndb-cli"
IF_SRV, IF_CLI = "ndb-s", "ndb-c"
SRV_ADDR, CLI_ADDR = "100.64.0.1/10", "100.64.0.2/10"

REPEATS = int(os.environ.get("REPEATS", "3"))
STEP_SECONDS = int(os.environ.get("STEP_SECONDS", "4"))
MAX_STEPS = int(os.environ.get("MAX_STEPS", "8"))
LEASES = int(os.environ.get("LEASES", "2000000"))
FIXED_RATES = (1000, 2000)
FIXED_SECONDS = 6
KNEE_START = 1000
KNEE_MAX = 64000
FAIL_LIMIT = 1.0  # percent of DISCOVERs without an ACK
NETDHCPD = Path(os.environ.get("NETDHCPD", REPO / "target" / "release" / "netdhcpd"))
ONLY = set(filter(None, os.environ.get("ONLY", "").split(",")))

SERVERS = {
    "kea": "Kea 2.2 MT (2 threads)",
    "nd-fsync": "netdhcpd durability fsync",
    "nd-none": "netdhcpd durability none (not durable)",
    "nd-fsync-c1": "netdhcpd durability fsync, receive-coalescing 1,000 µs",
}
# receive-coalescing (µs) of each netdhcpd kind; 0 is the default: no wait.
COALESCING = {"nd-fsync": 0, "nd-none": 0, "nd-fsync-c1": 1000}
# Not servers: floor_responder.c, the least a responder can do per DORA (no lease state), to
# measure the kernel's share on this machine. Run only when ONLY names them.
FLOOR_SERVERS = {
    "floor-none": "minimal responder (kernel floor), no lease state",
    "floor-fsync": "minimal responder (kernel floor), fdatasync per ACK batch",
}
ALL_SERVERS = {**SERVERS, **FLOOR_SERVERS}

run_counter = 0


def coalescing_xml(micros: int) -> str:
    """The receive-coalescing leaf, left out at 0 (the default) so older builds take the
    configuration too."""
    return f"<receive-coalescing>{micros}</receive-coalescing>" if micros else ""


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*cmd, check=True, timeout=30):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True)


# ------------------------------------------------------------------ namespaces


def netns_up():
    netns_down()
    sh("ip", "netns", "add", NS_SRV)
    sh("ip", "netns", "add", NS_CLI)
    sh("ip", "link", "add", IF_SRV, "type", "veth", "peer", "name", IF_CLI)
    sh("ip", "link", "set", IF_SRV, "netns", NS_SRV)
    sh("ip", "link", "set", IF_CLI, "netns", NS_CLI)
    sh("ip", "-n", NS_SRV, "addr", "add", SRV_ADDR, "dev", IF_SRV)
    sh("ip", "-n", NS_CLI, "addr", "add", CLI_ADDR, "dev", IF_CLI)
    for ns, dev in ((NS_SRV, IF_SRV), (NS_CLI, IF_CLI)):
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def netns_down():
    for ns in (NS_SRV, NS_CLI):
        sh("ip", "netns", "del", ns, check=False)


# ------------------------------------------------------------------ servers


def floor_binary(work_root: Path) -> Path:
    """floor_responder.c compiled into the benchmark's work directory (again when the source is newer)."""
    binary, source = work_root / "floor_responder", HERE / "floor_responder.c"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        sh("gcc", "-O2", "-Wall", "-o", str(binary), str(source), timeout=120)
    return binary


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    """The machine's 1, 5 and 15-minute load averages (as `uptime` prints them)."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def memory_kb(pid: int) -> dict:
    """VmRSS and VmHWM of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


class Server:
    """One server process in NS_SRV with its own work directory. `extra_args` go to
    netdhcpd's command line after the start-up configuration (e.g. --settings FILE)."""

    def __init__(self, kind: str, work: Path, lease_file: Path | None = None, extra_args=()):
        self.kind, self.work = kind, work
        work.mkdir(parents=True)
        self.log_path = work / "server.log"
        env = dict(os.environ)
        if kind == "kea":
            cfg = (HERE / "kea-dhcp4-mt.json.in").read_text()
            cfg = cfg.replace("@WORK@", str(work)).replace("@IFACE@", IF_SRV)
            (work / "kea-dhcp4.json").write_text(cfg)
            if lease_file:
                shutil.copyfile(lease_file, work / "kea-leases4.csv")
            # Our own pid and lock files, so another Kea on the machine does not collide.
            env["KEA_PIDFILE_DIR"] = str(work)
            env["KEA_LOCKFILE_DIR"] = str(work)
            cmd = ["kea-dhcp4", "-c", str(work / "kea-dhcp4.json")]
        elif kind in FLOOR_SERVERS:
            cmd = [str(floor_binary(work.parent)), IF_SRV]
            if kind == "floor-fsync":
                cmd += ["--fsync", str(work / "leases4.csv")]
        else:
            durability = "none" if kind == "nd-none" else "fsync"
            cfg = (HERE / "netdhcpd.xml.in").read_text()
            cfg = cfg.replace("@DURABILITY@", durability).replace("@IFACE@", IF_SRV)
            cfg = cfg.replace("@COALESCING@", coalescing_xml(COALESCING[kind]))
            (work / "config.xml").write_text(cfg)
            state = work / "state"
            state.mkdir()
            if lease_file:
                shutil.copyfile(lease_file, state / "leases4.csv")
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(str(work / "notify.sock"))
            env["NOTIFY_SOCKET"] = str(work / "notify.sock")
            cmd = [str(NETDHCPD), "run", "--state-dir", str(state), "--startup", str(work / "config.xml"), *extra_args]
        self.started = time.monotonic()
        with open(self.log_path, "ab") as out:
            # `ip netns exec` execs the server: the PID is the server's.
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", NS_SRV, *cmd], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float) -> float:
        """Seconds from exec to ready."""
        deadline = self.started + timeout
        if self.kind == "kea":
            log_file = self.work / "kea4.log"
            while time.monotonic() < deadline:
                if log_file.exists() and "DHCP4_STARTED" in log_file.read_text(errors="replace"):
                    return time.monotonic() - self.started
                self._check_alive()
                time.sleep(0.05)
        elif self.kind in FLOOR_SERVERS:
            # floor_responder prints READY on stdout (the log) once bound.
            while time.monotonic() < deadline:
                if self.log_path.exists() and "READY\n" in self.log_path.read_text(errors="replace"):
                    return time.monotonic() - self.started
                self._check_alive()
                time.sleep(0.02)
        else:
            self.notify.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    msg = self.notify.recv(4096).decode(errors="replace")
                except socket.timeout:
                    self._check_alive()
                    continue
                if "READY=1" in msg.split("\n"):
                    return time.monotonic() - self.started
        self.stop()
        raise RuntimeError(f"{self.kind} not ready within {timeout}s; see {self.log_path}")

    def _check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}; see {self.log_path}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def memory_kb(self) -> dict:
        return memory_kb(self.pid)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.kind != "kea" and self.kind not in FLOOR_SERVERS:
            self.notify.close()


# ------------------------------------------------------------------ perfdhcp


def stat_block(out: str, exchange: str) -> dict:
    m = re.search(r"\*\*\*Statistics for: " + exchange + r"\*\*\*(.*?)(?:\n\n\*\*\*|\Z)", out, re.S)
    res = {}
    if m:
        for line in m.group(1).splitlines():
            k, _, v = line.partition(":")
            num = re.match(r"\s*([0-9.]+)", v)
            if num:
                res[k.strip()] = float(num.group(1))
    return res


def delays_ms(out: str, exchange: str) -> list[float]:
    m = re.search(r"\*\*\*Timestamps for packets: " + exchange + r"\*\*\*\n(.*?)(?:\n\*\*\*|\Z)", out, re.S)
    if not m:
        return []
    ds = []
    for line in m.group(1).splitlines():
        t = re.match(r"sent / received: ([0-9.]+) / ([0-9.]+)", line)
        if t:
            ds.append((float(t.group(2)) - float(t.group(1))) * 1000)
    return ds


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def perfdhcp(rate: int, seconds: int, timers: bool = False) -> dict:
    global run_counter
    run_counter += 1
    base = f"02:{(run_counter >> 8) & 255:02x}:{run_counter & 255:02x}:00:00:00"
    cmd = ["perfdhcp", "-4", "-l", IF_CLI, "-r", str(rate), "-R", "10000000", "-p", str(seconds),
           "-W", "500000", "-b", f"mac={base}"]  # fmt: skip
    if timers:
        cmd += ["-x", "t"]
    p = subprocess.run(["ip", "netns", "exec", NS_CLI, *cmd], capture_output=True, text=True, timeout=seconds + 30)
    do, ra = stat_block(p.stdout, "DISCOVER-OFFER"), stat_block(p.stdout, "REQUEST-ACK")
    sent = do.get("sent packets", 0)
    acks = ra.get("received packets", 0)
    res = {
        "rate": rate,
        "discovers": sent,
        "acks": acks,
        "fail_pct": 100.0 if sent == 0 else 100.0 * (1 - acks / sent),
        "offered_per_s": sent / seconds,
        "cmd": " ".join(cmd),
    }
    if timers:
        ra_d, do_d = delays_ms(p.stdout, "REQUEST-ACK"), delays_ms(p.stdout, "DISCOVER-OFFER")
        res.update(ra_p50=pct(ra_d, 50), ra_p99=pct(ra_d, 99), do_p50=pct(do_d, 50), do_p99=pct(do_d, 99))
    if sent == 0:
        res["stderr"] = p.stderr[-500:] + p.stdout[-500:]
    return res


# ------------------------------------------------------------------ measurements


def fixed_rate(server: Server, rate: int) -> dict:
    c0 = server.cpu_seconds()
    r = perfdhcp(rate, FIXED_SECONDS, timers=True)
    c1 = server.cpu_seconds()
    r["cpu_us_per_exchange"] = (c1 - c0) * 1e6 / r["acks"] if r["acks"] else None
    return r


def knee(server: Server, run=None) -> dict:
    """Highest rate with fewer than FAIL_LIMIT % failed exchanges: double, then bisect.
    `run(rate, seconds)` is the load generator (perfdhcp DHCPv4 unless given)."""
    run = run or perfdhcp
    lo, hi, rate, steps, runs = 0, None, KNEE_START, 0, []
    limited = False
    deadline = time.monotonic() + MAX_STEPS * (STEP_SECONDS + 10)
    while steps < MAX_STEPS and time.monotonic() < deadline:
        r = run(rate, STEP_SECONDS)
        steps += 1
        runs.append({k: r[k] for k in ("rate", "discovers", "acks", "fail_pct", "offered_per_s")})
        ok = r["fail_pct"] < FAIL_LIMIT
        log(f"    {rate}/s: offered {r['offered_per_s']:.0f}/s, failed {r['fail_pct']:.2f}% -> {'pass' if ok else 'FAIL'}")
        if ok:
            lo = max(lo, rate)
            if r["offered_per_s"] < 0.9 * rate:
                limited = True  # perfdhcp could not offer the rate: the knee is above what it shows
                break
        else:
            hi = rate if hi is None else min(hi, rate)
        if hi is None:
            if rate >= KNEE_MAX:
                break
            rate = min(rate * 2, KNEE_MAX)
        else:
            if hi - lo <= max(200, lo // 8):
                break
            rate = (lo + hi) // 2 // 100 * 100
    return {"knee": lo, "generator_limited": limited, "runs": runs}


def exchange_bench(kind: str, work: Path, rep: int) -> dict:
    server = Server(kind, work / f"{kind}-{rep}")
    try:
        server.wait_ready(60)
        time.sleep(0.5)
        out = {}
        for rate in FIXED_RATES:
            r = fixed_rate(server, rate)
            log(f"  {kind} #{rep} fixed {rate}/s: cpu {r['cpu_us_per_exchange']} us/exchange, "
                f"RA p50/p99 {r.get('ra_p50')}/{r.get('ra_p99')} ms, failed {r['fail_pct']:.2f}%")  # fmt: skip
            out[f"fixed_{rate}"] = r
        out["knee"] = knee(server)
        log(f"  {kind} #{rep} knee {out['knee']['knee']}/s{' (perfdhcp-limited)' if out['knee']['generator_limited'] else ''}")
        return out
    finally:
        server.stop()


def startup_bench(kind: str, work: Path, rep: int, lease_file: Path) -> dict:
    server = Server(kind, work / f"start-{kind}-{rep}", lease_file)
    try:
        ready = server.wait_ready(300)
        at_ready = server.memory_kb()
        time.sleep(2)
        mem = server.memory_kb()
        log(f"  start-up {kind} #{rep}: ready {ready:.2f}s, VmRSS {mem['VmRSS'] / 1024:.0f} MB, VmHWM {mem['VmHWM'] / 1024:.0f} MB")
        return {"ready_s": ready, "rss_kb_at_ready": at_ready["VmRSS"], **mem}
    finally:
        server.stop()
        shutil.rmtree(server.work, ignore_errors=True)


# ------------------------------------------------------------------ report


def med(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def fmt(values, unit="", digits=0):
    m, lo, hi = med(values)
    if m is None:
        return "—"
    f = f"{{:,.{digits}f}}"
    if len(values) > 1 and lo != hi:
        return f"{f.format(m)}{unit} [{f.format(lo)}–{f.format(hi)}]"
    return f"{f.format(m)}{unit}"


def ratio(a, b, invert=False):
    ma, mb = med(a)[0], med(b)[0]
    if not ma or not mb:
        return "—"
    return f"{(mb / ma if invert else ma / mb):.2f}x"


def report(results: dict) -> str:
    ex = results.get("exchange", {})
    st = results.get("startup", {})
    kinds = [k for k in ALL_SERVERS if k in ex or k in st]
    rows = []

    def get(kind, path):
        out = []
        for rep in ex.get(kind, []):
            v = rep
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            out.append(v)
        return out

    figures = [
        ("DORA/s at the knee (<1% failed)", lambda k: get(k, ["knee", "knee"]), "", 0, False),
    ]
    for rate in FIXED_RATES:
        figures += [
            (f"server CPU µs per DORA at {rate:,}/s", lambda k, r=rate: get(k, [f"fixed_{r}", "cpu_us_per_exchange"]), "", 0, True),
            (f"REQUEST-ACK latency p50 at {rate:,}/s (ms)", lambda k, r=rate: get(k, [f"fixed_{r}", "ra_p50"]), "", 2, True),
            (f"REQUEST-ACK latency p99 at {rate:,}/s (ms)", lambda k, r=rate: get(k, [f"fixed_{r}", "ra_p99"]), "", 2, True),
            (f"DISCOVER-OFFER latency p50 at {rate:,}/s (ms)", lambda k, r=rate: get(k, [f"fixed_{r}", "do_p50"]), "", 2, True),
            (f"DISCOVER-OFFER latency p99 at {rate:,}/s (ms)", lambda k, r=rate: get(k, [f"fixed_{r}", "do_p99"]), "", 2, True),
        ]
    figures += [
        (f"start-up with {LEASES:,} leases (s)", lambda k: [r["ready_s"] for r in st.get(k, [])], "", 2, True),
        (f"VmRSS with {LEASES:,} leases (MB)", lambda k: [r["VmRSS"] / 1024 for r in st.get(k, [])], "", 0, True),
        (f"VmHWM with {LEASES:,} leases (MB)", lambda k: [r["VmHWM"] / 1024 for r in st.get(k, [])], "", 0, True),
    ]
    head = "| figure | " + " | ".join(ALL_SERVERS[k] for k in kinds)
    nd = [k for k in kinds if k != "kea"]
    if "kea" in kinds:
        head += "".join(f" | {k} vs Kea" for k in nd)
    rows.append(head + " |")
    rows.append("|" + "---|" * (1 + len(kinds) + (len(nd) if "kea" in kinds else 0)))
    for name, getter, unit, digits, lower_better in figures:
        cells = [fmt(getter(k), unit, digits) for k in kinds]
        if all(c == "—" for c in cells):
            continue  # not measured in this run (ONLY=...)
        if "kea" in kinds:
            # Ratios read "times better than Kea": higher is better for every row.
            cells += [ratio(getter(k), getter("kea"), invert=lower_better) if getter(k) else "—" for k in nd]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    limited = [k for k in kinds if any(r["knee"]["generator_limited"] for r in ex.get(k, []))]
    text = "\n".join(rows)
    if limited:
        text += "\n\nperfdhcp could not offer more than shown for: " + ", ".join(limited) + " (the knee is at least that)."
    return text


def main() -> int:
    if os.geteuid() != 0:
        print("bench.py needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", "kea-dhcp4", "ip"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install kea-dhcp4-server kea-admin iproute2", file=sys.stderr)
            return 2
    if not NETDHCPD.exists():
        print(f"{NETDHCPD} not found: cargo build --release -p netdhcpd", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-bench."))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machine = {
        "nproc": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "kea": sh("kea-dhcp4", "-v").stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeats": REPEATS,
    }
    log(f"work directory {work}; machine {machine}")
    results: dict = {"machine": machine, "exchange": {}, "startup": {}}

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        netns_up()
        for rep in range(1, REPEATS + 1):
            for kind in ALL_SERVERS:
                if (ONLY or kind in FLOOR_SERVERS) and kind not in ONLY:
                    continue
                log(f"{ALL_SERVERS[kind]}: run {rep}/{REPEATS}")
                results["exchange"].setdefault(kind, []).append(exchange_bench(kind, work, rep))
        if not ONLY or "startup" in ONLY:
            lease_file = work / "leases4-2m.csv"
            log(f"generating {LEASES:,} leases in {lease_file}")
            sh(sys.executable, str(HERE / "gen-leases4.py"), str(lease_file), str(LEASES), timeout=300)
            for rep in range(1, REPEATS + 1):
                for kind in ("kea", "nd-fsync"):
                    results["startup"].setdefault(kind, []).append(startup_bench(kind, work, rep, lease_file))
            lease_file.unlink()
    finally:
        netns_down()
        (work / "results.json").write_text(json.dumps(results, indent=1))
    table = report(results)
    print()
    print(f"Machine: {machine['nproc']} cores, {machine['cpu']}; Kea {machine['kea']}; {machine['date']}; "
          f"medians of {REPEATS} runs [min–max]; {time.monotonic() - started:.0f} s in all")  # fmt: skip
    print(table)
    print(f"\nRaw results (with every perfdhcp command): {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
