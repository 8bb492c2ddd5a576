#!/usr/bin/env python3
"""Failover (HA) pairs: netdhcpd against ISC Kea 2.2, hot-standby, DHCPv4 (see README.md,
"Failover").

Run as root through `ONLY=ha bench/run.sh` (which builds the release binary first). For each
product in turn (a Kea 2.2 pair: kea-dhcp4 multi-threaded with libdhcp_lease_cmds and libdhcp_ha,
the HA hook's dedicated HTTP listener; a netdhcpd pair with durability fsync, the default), in
the same namespaces, with the same perfdhcp runs and the same HA timers (heartbeat-delay 1000 ms,
max-response-delay 3000 ms, max-ack-delay 1000 ms, max-unacked-clients 0) and sync page size:

  throughput  a fresh pair in hot-standby: server CPU per DORA of the primary (and of the standby)
              at 1,000/s with REQUEST-ACK latency; then the knee, the highest offered rate with
              under 1% of DISCOVERs without an ACK (doubling then bisecting, as bench.py does);
  takeover    perfdhcp at 500/s; kill -9 of the primary; the time from the kill to the standby's
              first ACK, on the wire (tcpdump in the client namespace), and to partner-down (its
              ha-heartbeat answer);
  resync      the standby alone (partner-down) holding N leases loaded from a memfile at
              start-up (gen-leases4.py, the same CSV for both products), perfdhcp at 200/s; the
              primary starts with an empty lease file; the time from its exec to both servers
              answering "hot-standby" to ha-heartbeat, the DISCOVERs sent meanwhile that never got
              an ACK and the longest time without any ACK (tcpdump), the leases the primary holds
              afterwards, and both servers' resident memory. N = 100,000 and 2,000,000.

Topology (every namespace made here, deleted on exit):

    ndh-s1   lan 100.64.0.1/10  ─┐                        ┌─ peer 100.127.255.253/30  ndh-s1
    ndh-s2   lan 100.64.0.3/10  ─┼─ [ndh-lan: bridge br0] │      (peer link, port 8001)
    ndh-cli  cli 100.64.0.2/10  ─┘                        └─ peer 100.127.255.254/30  ndh-s2

perfdhcp sends from 100.64.0.2 as a relay (giaddr) to the broadcast address, so every packet
reaches both servers over the bridge; the servers talk to each other only over the peer link
(its /30 lies in the /10 but outside the pool). ha-heartbeat is polled from a thread inside
ndh-s1, which reaches both peer URLs.

Environment: REPEATS (3), REPEATS_2M (2: a Kea run with 2,000,000 leases takes about 4 minutes), STEP_SECONDS (4), MAX_STEPS (7), PAGE (10000),
KEA_SYNC_TIMEOUT (60000 ms) and KEA_SYNC_TIMEOUT_2M (600000 ms), NETDHCPD
(target/release/netdhcpd), BENCH_WORK (a fresh /tmp directory), HA_ONLY (comma list of
throughput,takeover,resync,resync-2m), HA_PRODUCTS (kea,nd), KEEP_LOGS (1: keep server
directories, lease files, captures), RESYNC_FIRST_ADDRESS (100.96.0.0).

`python3 bench/ha.py --report WORK/results.json` prints the table again from a run's results.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import bench as b  # noqa: E402  (perfdhcp report parsing, percentiles, medians, formatting)
from bench import log, sh  # noqa: E402

NS_S1, NS_S2, NS_CLI, NS_LAN = "ndh-s1", "ndh-s2", "ndh-cli", "ndh-lan"
IF_LAN, IF_CLI, IF_PEER = "lan", "cli", "peer"
S1_IP, S2_IP, CLI_IP = "100.64.0.1", "100.64.0.3", "100.64.0.2"
S1_PEER, S2_PEER = "100.127.255.253", "100.127.255.254"  # in the /10, outside the pool
PEER_PORT = 8001
S1_URL, S2_URL = f"http://{S1_PEER}:{PEER_PORT}/", f"http://{S2_PEER}:{PEER_PORT}/"
HS, PD = "hot-standby", "partner-down"

REPEATS = int(os.environ.get("REPEATS", "3"))
REPEATS_2M = int(os.environ.get("REPEATS_2M", "2"))
STEP_SECONDS = int(os.environ.get("STEP_SECONDS", "4"))
MAX_STEPS = int(os.environ.get("MAX_STEPS", "7"))
PAGE = int(os.environ.get("PAGE", "10000"))
KEA_SYNC_TIMEOUT = int(os.environ.get("KEA_SYNC_TIMEOUT", "60000"))
KEA_SYNC_TIMEOUT_2M = int(os.environ.get("KEA_SYNC_TIMEOUT_2M", "600000"))
NETDHCPD = Path(os.environ.get("NETDHCPD", REPO / "target" / "release" / "netdhcpd"))
HA_ONLY = set(filter(None, os.environ.get("HA_ONLY", "").split(",")))
PRODUCTS = [p for p in os.environ.get("HA_PRODUCTS", "kea,nd").split(",") if p]
KEEP_LOGS = os.environ.get("KEEP_LOGS") == "1"

FIXED_RATE, FIXED_SECONDS = 1000, 6
KNEE_START, KNEE_MAX = 500, 32000
FAIL_LIMIT = 1.0  # percent of DISCOVERs without an ACK
TAKEOVER_RATE, TAKEOVER_SECONDS, TAKEOVER_KILL_AT = 500, 14, 3.0
RESYNC_RATE = 200
# Where the survivor's leases start: in the upper half of the pool, so that new clients get free
# addresses from the pool's start without a search through the taken ones (Kea 2.2's iterative
# allocator walks from the pool's first address; see README.md for what it does otherwise).
RESYNC_FIRST_ADDRESS = os.environ.get("RESYNC_FIRST_ADDRESS", "100.96.0.0")
RESYNC_SIZES = {"resync": 100_000, "resync-2m": 2_000_000}
RESYNC_BOUND = {100_000: 180.0, 2_000_000: 480.0}  # seconds allowed for the pair to recover
PAIR_UP = 60.0  # seconds for a fresh pair to reach hot-standby

NAMES = {"kea": "Kea 2.2 HA (MT, 2 threads)", "nd": "netdhcpd HA (durability fsync)"}


# ------------------------------------------------------------------ namespaces


def netns_up():
    netns_down()
    for ns in (NS_S1, NS_S2, NS_CLI, NS_LAN):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", NS_LAN, "link", "add", "br0", "type", "bridge")
    sh("ip", "netns", "exec", NS_LAN, "sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0", check=False)
    # Each veth is made inside its namespace with the peer put straight into the other one: no
    # name ever exists in the host namespace.
    for ns, iface, port in ((NS_S1, IF_LAN, "p1"), (NS_S2, IF_LAN, "p2"), (NS_CLI, IF_CLI, "pc")):
        sh("ip", "-n", ns, "link", "add", iface, "type", "veth", "peer", "name", port, "netns", NS_LAN)
        sh("ip", "-n", NS_LAN, "link", "set", port, "master", "br0")
        sh("ip", "-n", NS_LAN, "link", "set", port, "up")
    sh("ip", "-n", NS_LAN, "link", "set", "br0", "up")
    sh("ip", "-n", NS_S1, "link", "add", IF_PEER, "type", "veth", "peer", "name", IF_PEER, "netns", NS_S2)
    for ns, iface, addr in ((NS_S1, IF_LAN, S1_IP), (NS_S2, IF_LAN, S2_IP), (NS_CLI, IF_CLI, CLI_IP)):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/10", "dev", iface)
        sh("ip", "-n", ns, "link", "set", iface, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    for ns, addr in ((NS_S1, S1_PEER), (NS_S2, S2_PEER)):
        sh("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", IF_PEER)
        sh("ip", "-n", ns, "link", "set", IF_PEER, "up")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = json.loads(sh("ip", "-n", NS_LAN, "-j", "-d", "link", "show", "master", "br0").stdout)
        if out and all(l.get("linkinfo", {}).get("info_slave_data", {}).get("state") == "forwarding" for l in out):
            return
        time.sleep(0.05)
    raise RuntimeError("bridge ports not forwarding within 10 s")


def netns_down():
    for ns in (NS_CLI, NS_S1, NS_S2, NS_LAN):
        sh("ip", "netns", "del", ns, check=False)


# ------------------------------------------------------------------ the peer protocol, from ndh-s1

_libc = ctypes.CDLL(None, use_errno=True)


def _join_s1():
    fd = os.open(f"/run/netns/{NS_S1}", os.O_RDONLY)
    try:
        if _libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET: this thread only
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(fd)


class PeerPoller:
    """ha-heartbeat to both peer URLs, from one worker thread living in ndh-s1 (where the peer
    link and both peer addresses are)."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, initializer=_join_s1)

    @staticmethod
    def _post(url: str, timeout: float):
        host, port = url.split("//", 1)[1].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            body = json.dumps({"command": "ha-heartbeat", "service": ["dhcp4"]})
            conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            a = json.loads(resp.read())
            a = a[0] if isinstance(a, list) and a else a
            return a.get("arguments", {}).get("state") if a.get("result") == 0 else None
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def state(self, url: str, timeout: float = 1.0) -> str | None:
        return self.pool.submit(self._post, url, timeout).result(timeout + 5)

    def states(self) -> tuple:
        return self.state(S1_URL), self.state(S2_URL)

    def close(self):
        self.pool.shutdown(wait=True)


# ------------------------------------------------------------------ servers


class HaServer:
    """One server of a pair in ndh-s1 (server1, primary) or ndh-s2 (server2, standby), with its
    own work directory; started by exec inside the namespace, so the PID is the server's."""

    def __init__(self, kind: str, which: int, work: Path, lease_file: Path | None = None,
                 sync_timeout: int = KEA_SYNC_TIMEOUT):  # fmt: skip
        self.kind, self.which, self.work = kind, which, work
        self.ns = NS_S1 if which == 1 else NS_S2
        self.url = S1_URL if which == 1 else S2_URL
        this = f"server{which}"
        work.mkdir(parents=True)
        self.log_path = work / "server.log"
        env = dict(os.environ)
        subst = {"@IFACE@": IF_LAN, "@THIS@": this, "@S1_URL@": S1_URL, "@S2_URL@": S2_URL, "@PAGE@": str(PAGE),
                 "@WORK@": str(work), "@SYNC_TIMEOUT@": str(sync_timeout)}  # fmt: skip
        self.notify = None
        if kind == "kea":
            cfg = (HERE / "kea-ha.json.in").read_text()
            for k, v in subst.items():
                cfg = cfg.replace(k, v)
            json.loads(cfg)
            (work / "kea-dhcp4.json").write_text(cfg)
            self.lease_path = work / "kea-leases4.csv"
            if lease_file:
                shutil.copyfile(lease_file, self.lease_path)
            env["KEA_PIDFILE_DIR"] = str(work)
            env["KEA_LOCKFILE_DIR"] = str(work)
            cmd = ["kea-dhcp4", "-c", str(work / "kea-dhcp4.json")]
        else:
            cfg = (HERE / "netdhcpd-ha.xml.in").read_text()
            for k, v in subst.items():
                cfg = cfg.replace(k, v)
            (work / "config.xml").write_text(cfg)
            state = work / "state"
            state.mkdir()
            self.lease_path = state / "leases4.csv"
            if lease_file:
                shutil.copyfile(lease_file, self.lease_path)
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(str(work / "notify.sock"))
            env["NOTIFY_SOCKET"] = str(work / "notify.sock")
            cmd = [str(NETDHCPD), "run", "--state-dir", str(state), "--startup", str(work / "config.xml")]
        self.cmd, self.env = cmd, env
        self.proc = None

    def __repr__(self):
        return f"{self.kind}-s{self.which}"

    def start(self):
        self.started = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, *self.cmd], cwd=self.work, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        self.pid = self.proc.pid
        return self

    def ready(self) -> bool:
        """Non-blocking: whether the server said it is ready (Kea's DHCP4_STARTED log line,
        netdhcpd's READY=1)."""
        if getattr(self, "_ready", None) is not None:
            return True
        if self.kind == "kea":
            p = self.work / "kea4.log"
            if p.exists() and "DHCP4_STARTED" in p.read_text(errors="replace"):
                self._ready = time.monotonic() - self.started
        else:
            self.notify.setblocking(False)
            try:
                while True:
                    msg = self.notify.recv(4096).decode(errors="replace")
                    if "READY=1" in msg.split("\n"):
                        self._ready = time.monotonic() - self.started
                        break
            except BlockingIOError:
                pass
        return getattr(self, "_ready", None) is not None

    def wait_ready(self, timeout: float) -> float:
        deadline = self.started + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return self._ready
            self.check_alive()
            time.sleep(0.05)
        raise RuntimeError(f"{self!r} not ready within {timeout}s; see {self.log_path}\n{self.log_tail()}")

    def check_alive(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self!r} exited with {self.proc.returncode}; see {self.log_path}\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return b.cpu_seconds(self.pid)

    def memory_kb(self) -> dict:
        return b.memory_kb(self.pid)

    def log_tail(self, lines: int = 60) -> str:
        out = []
        for p in (self.log_path, self.work / "kea4.log"):
            if p.exists():
                text = p.read_text(errors="replace").splitlines()
                out.append(f"--- last {min(lines, len(text))} lines of {p} ---")
                out += text[-lines:]
        return "\n".join(out)

    def kill9(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self):
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.notify is not None:
            self.notify.close()
            self.notify = None


class Pair:
    """The servers started for one measurement; stop_all() stops every one by PID."""

    def __init__(self, kind: str, work: Path):
        self.kind, self.work = kind, work
        self.servers: list[HaServer] = []

    def server(self, which: int, lease_file: Path | None = None, sync_timeout: int = KEA_SYNC_TIMEOUT) -> HaServer:
        s = HaServer(self.kind, which, self.work / f"s{which}-{len(self.servers)}", lease_file, sync_timeout)
        self.servers.append(s)
        return s.start()

    def stop_all(self):
        for s in self.servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log(f"  stopping {s!r}: {e!r}")
        if not KEEP_LOGS:
            for s in self.servers:
                for f in (s.lease_path,):
                    f.unlink(missing_ok=True)


def wait_states(poller: PeerPoller, want: tuple, timeout: float, servers=(), what="") -> tuple[float, list]:
    """Poll both heartbeats until (state of server1, state of server2) matches `want` (None in
    `want`: any). Returns (seconds, the distinct state pairs seen with their times)."""
    t0 = time.monotonic()
    seen: list = []
    while True:
        now = poller.states()
        if not seen or seen[-1][1] != now:
            seen.append((round(time.monotonic() - t0, 2), now))
        if all(w is None or w == n for w, n in zip(want, now)):
            return time.monotonic() - t0, seen
        for s in servers:
            s.check_alive()
        if time.monotonic() - t0 > timeout:
            tails = "\n".join(s.log_tail() for s in servers)
            raise RuntimeError(f"{what}: {want} not reached within {timeout}s; seen {seen}\n{tails}")
        time.sleep(0.1)


def start_pair(pair: Pair, poller: PeerPoller) -> tuple[HaServer, HaServer, float]:
    s1, s2 = pair.server(1), pair.server(2)
    s1.wait_ready(60)
    s2.wait_ready(60)
    took, _ = wait_states(poller, (HS, HS), PAIR_UP, (s1, s2), f"{pair.kind} pair up")
    return s1, s2, took


# ------------------------------------------------------------------ perfdhcp and tcpdump

run_counter = 0x100


def perf_cmd(rate: int, seconds: int, extra=()) -> list[str]:
    global run_counter
    run_counter += 1
    base = f"02:{(run_counter >> 8) & 255:02x}:{run_counter & 255:02x}:00:00:00"
    return ["perfdhcp", "-4", "-l", IF_CLI, "-r", str(rate), "-R", "10000000", "-p", str(seconds),
            "-W", "500000", "-b", f"mac={base}", *extra]  # fmt: skip


def perf_summary(out: str, cmd: list[str], seconds: float) -> dict:
    do, ra = b.stat_block(out, "DISCOVER-OFFER"), b.stat_block(out, "REQUEST-ACK")
    sent, acks = do.get("sent packets", 0), ra.get("received packets", 0)
    return {
        "discovers": sent,
        "acks": acks,
        "fail_pct": 100.0 if sent == 0 else 100.0 * (1 - acks / sent),
        "lost": sent - acks,
        "offered_per_s": sent / seconds if seconds else 0,
        "cmd": " ".join(cmd),
    }


def perfdhcp(rate: int, seconds: int, timers: bool = False) -> dict:
    cmd = perf_cmd(rate, seconds, ("-x", "t") if timers else ())
    p = subprocess.run(["ip", "netns", "exec", NS_CLI, *cmd], capture_output=True, text=True, timeout=seconds + 30)
    r = perf_summary(p.stdout, cmd, seconds)
    r["rate"] = rate
    if timers:
        ra_d, do_d = b.delays_ms(p.stdout, "REQUEST-ACK"), b.delays_ms(p.stdout, "DISCOVER-OFFER")
        r.update(ra_p50=b.pct(ra_d, 50), ra_p99=b.pct(ra_d, 99), do_p50=b.pct(do_d, 50), do_p99=b.pct(do_d, 99))
    if r["discovers"] == 0:
        r["stderr"] = p.stderr[-500:] + p.stdout[-500:]
    return r


class BgPerf:
    """perfdhcp in the background for at most `seconds`; finish(interrupt=True) ends it early with
    SIGINT (it prints its report)."""

    def __init__(self, rate: int, seconds: int):
        self.cmd = perf_cmd(rate, seconds)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS_CLI, *self.cmd], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.bound = seconds + 30

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self, interrupt: bool = False) -> dict:
        if interrupt and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            out, err = self.proc.communicate(timeout=self.bound)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate(timeout=10)
        r = perf_summary(out, self.cmd, time.monotonic() - self.t0)
        if r["discovers"] == 0:
            r["stderr"] = err[-500:] + out[-500:]
        return r

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class Tcpdump:
    """tcpdump of DHCP in the client namespace, to a pcap file, stopped by PID."""

    def __init__(self, path: Path):
        self.path = path
        self.err = path.with_suffix(".err")
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(["ip", "netns", "exec", NS_CLI, "tcpdump", "-i", IF_CLI, "-n", "-U", "-s", "400",
                                          "-Z", "root", "-w", str(path), "udp and (port 67 or port 68)"],
                                         stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        deadline = time.monotonic() + 10
        while "listening on" not in self.err.read_text(errors="replace"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"tcpdump did not start: {self.err.read_text(errors='replace')}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            time.sleep(0.3)  # let the last packets reach the file
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def pcap_dhcp(path: Path):
    """(time, op, message type, chaddr, server id) of every DHCPv4 packet in an Ethernet pcap."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = struct.unpack(endian + "I", data[:4])[0] == 0xA1B23C4D
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ts = sec + frac / (1e9 if nano else 1e6)
        if len(pkt) < 14 + 20 + 8 + 240 or pkt[12:14] != b"\x08\x00":
            continue
        ihl = (pkt[14] & 15) * 4
        if pkt[23] != 17:
            continue
        bootp = pkt[14 + ihl + 8:]
        if len(bootp) < 240 or bootp[236:240] != b"\x63\x82\x53\x63":
            continue
        op, chaddr = bootp[0], bootp[28:34].hex(":")
        mtype, sid = None, None
        i = 240
        while i < len(bootp):
            code = bootp[i]
            if code == 255:
                break
            if code == 0:
                i += 1
                continue
            if i + 1 >= len(bootp):
                break
            ln = bootp[i + 1]
            val = bootp[i + 2:i + 2 + ln]
            if code == 53 and ln == 1:
                mtype = val[0]
            elif code == 54 and ln == 4:
                sid = ".".join(str(x) for x in val)
            i += 2 + ln
        yield ts, op, mtype, chaddr, sid


DISCOVER, OFFER, REQUEST, ACK = 1, 2, 3, 5


def window_stats(pcap: Path, t_from: float, t_to: float, late: float = 1.0) -> dict:
    """The new clients whose first DISCOVER was sent in [t_from, t_to] (wall clock), from the
    capture: how many never got an ACK at all, how many got it more than `late` seconds after
    their REQUEST, their REQUEST-ACK latency, and the longest time in the window without any ACK
    on the wire. (perfdhcp's own drop count is not this: it counts a reply older than its drop
    time, -d 1 s, as received when it matches in order, and as lost when it does not.)"""
    first: dict[str, dict] = {}
    ack_times = []
    for ts, op, mtype, chaddr, sid in pcap_dhcp(pcap):
        c = first.setdefault(chaddr, {})
        if op == 1 and mtype in (DISCOVER, REQUEST):
            c.setdefault(mtype, ts)
        elif op == 2 and mtype in (OFFER, ACK):
            c.setdefault(mtype, ts)
            if mtype == ACK:
                ack_times.append(ts)
    inside = [c for c in first.values() if DISCOVER in c and t_from <= c[DISCOVER] <= t_to]
    no_ack = sum(1 for c in inside if ACK not in c)
    late_acks = sum(1 for c in inside if ACK in c and REQUEST in c and c[ACK] - c[REQUEST] > late)
    lat = [1000 * (c[ACK] - c[REQUEST]) for c in inside if ACK in c and REQUEST in c]
    ticks = [t_from] + sorted(t for t in ack_times if t_from < t < t_to) + [t_to]
    n = len(inside)
    return {
        "clients": n,
        "no_ack": no_ack,
        "no_ack_pct": 100.0 * no_ack / n if n else None,
        "late_1s": late_acks,
        "ra_p50_ms": b.pct(lat, 50),
        "ra_p99_ms": b.pct(lat, 99),
        "max_ack_gap_s": max(y - x for x, y in zip(ticks, ticks[1:])),
    }


# ------------------------------------------------------------------ measurements


def knee() -> dict:
    """bench.py's knee search, for a pair: the highest rate with fewer than FAIL_LIMIT % of
    DISCOVERs without an ACK; double, then bisect; at most MAX_STEPS runs."""
    lo, hi, rate, steps, runs, limited = 0, None, KNEE_START, 0, [], False
    while steps < MAX_STEPS:
        r = perfdhcp(rate, STEP_SECONDS)
        steps += 1
        runs.append({k: r[k] for k in ("rate", "discovers", "acks", "fail_pct", "offered_per_s")})
        ok = r["fail_pct"] < FAIL_LIMIT
        log(f"    {rate}/s: offered {r['offered_per_s']:.0f}/s, failed {r['fail_pct']:.2f}% -> {'pass' if ok else 'FAIL'}")
        if ok:
            lo = max(lo, rate)
            if r["offered_per_s"] < 0.9 * rate:
                limited = True
                break
        else:
            hi = rate if hi is None else min(hi, rate)
        if hi is None:
            if rate >= KNEE_MAX:
                break
            rate = min(rate * 2, KNEE_MAX)
        else:
            if hi - lo <= max(100, lo // 8):
                break
            rate = (lo + hi) // 2 // 50 * 50
        time.sleep(0.5)
    return {"knee": lo, "generator_limited": limited, "runs": runs}


def throughput(kind: str, work: Path, rep: int, poller: PeerPoller) -> dict:
    pair = Pair(kind, work / f"tp-{kind}-{rep}")
    try:
        s1, s2, up = start_pair(pair, poller)
        log(f"  {kind} #{rep}: pair in hot-standby {up:.1f}s after both were ready")
        time.sleep(1)
        c1, c2 = s1.cpu_seconds(), s2.cpu_seconds()
        r = perfdhcp(FIXED_RATE, FIXED_SECONDS, timers=True)
        d1, d2 = s1.cpu_seconds() - c1, s2.cpu_seconds() - c2
        r["cpu_us_primary"] = d1 * 1e6 / r["acks"] if r["acks"] else None
        r["cpu_us_standby"] = d2 * 1e6 / r["acks"] if r["acks"] else None
        log(f"  {kind} #{rep} fixed {FIXED_RATE}/s: primary {r['cpu_us_primary']} us/DORA, standby "
            f"{r['cpu_us_standby']} us/DORA, RA p50/p99 {r.get('ra_p50')}/{r.get('ra_p99')} ms, "
            f"failed {r['fail_pct']:.2f}%")  # fmt: skip
        k = knee()
        states = poller.states()
        for s in (s1, s2):
            s.check_alive()
        log(f"  {kind} #{rep} knee {k['knee']}/s{' (perfdhcp-limited)' if k['generator_limited'] else ''}; "
            f"states after: {states}")  # fmt: skip
        return {"pair_up_s": up, "fixed": r, "knee": k, "states_after": states}
    finally:
        pair.stop_all()


def takeover(kind: str, work: Path, rep: int, poller: PeerPoller) -> dict:
    pair = Pair(kind, work / f"to-{kind}-{rep}")
    cap = perf = None
    try:
        s1, s2, up = start_pair(pair, poller)
        cap = Tcpdump(pair.work / "takeover.pcap")
        perf = BgPerf(TAKEOVER_RATE, TAKEOVER_SECONDS)
        time.sleep(TAKEOVER_KILL_AT)
        if not perf.running():
            raise RuntimeError(f"perfdhcp ended before the kill: {perf.finish()}")
        t_kill_wall, t_kill = time.time(), time.monotonic()
        s1.kill9()
        pd_s = None
        while time.monotonic() - t_kill < TAKEOVER_SECONDS:
            if poller.state(S2_URL, timeout=0.5) == PD:
                pd_s = time.monotonic() - t_kill
                break
            time.sleep(0.02)
        res = perf.finish()
        perf = None
        cap.stop()
        pkts = list(pcap_dhcp(cap.path))
        s2_acks = [ts for ts, op, m, _, sid in pkts if op == 2 and m == ACK and sid == S2_IP and ts > t_kill_wall]
        s1_acks = [ts for ts, op, m, _, sid in pkts if op == 2 and m == ACK and sid == S1_IP]
        early = [ts for ts, op, m, _, sid in pkts if op == 2 and sid == S2_IP and ts < t_kill_wall]
        first = min(s2_acks) - t_kill_wall if s2_acks else None
        last1 = max(s1_acks) - t_kill_wall if s1_acks else None
        log(f"  {kind} #{rep}: kill -9 -> partner-down {pd_s}s, -> standby's first ACK {first}s "
            f"(primary's last ACK {last1}s; standby replies before the kill: {len(early)}); "
            f"perfdhcp {res['discovers']:.0f} DISCOVERs, {res['fail_pct']:.2f}% without ACK")  # fmt: skip
        if first is None:
            log(f"  !! {kind} #{rep}: the standby sent no ACK after the kill\n{s2.log_tail()}")
        return {"partner_down_s": pd_s, "first_ack_s": first, "primary_last_ack_s": last1, "standby_early": len(early),
                "perf": res}  # fmt: skip
    finally:
        if perf is not None:
            perf.kill()
        if cap is not None:
            cap.stop()
        pair.stop_all()


def bound_leases(path: Path) -> dict[str, str]:
    """address -> hwaddr of the leases bound in a memfile (the last row per address wins; a
    lifetime of 0 deletes; state 0, not expired)."""
    last = {}
    now = time.time()
    with open(path, errors="replace") as f:
        next(f, None)
        for line in f:
            parts = line.split(",", 10)
            if len(parts) >= 10:
                last[parts[0]] = parts
    return {a: p[1].lower() for a, p in last.items() if p[3] != "0" and int(p[4]) > now and p[9] == "0"}


def resync(kind: str, work: Path, rep: int, poller: PeerPoller, leases: int, lease_file: Path) -> dict:
    big = leases >= 1_000_000
    sync_timeout = KEA_SYNC_TIMEOUT_2M if big else KEA_SYNC_TIMEOUT
    pair = Pair(kind, work / f"rs{leases // 1000}k-{kind}-{rep}")
    cap = perf = None
    bound = RESYNC_BOUND[leases]
    try:
        s2 = pair.server(2, lease_file, sync_timeout)
        load_s = s2.wait_ready(400)
        alone, seen_alone = wait_states(poller, (None, PD), 30, (s2,), f"{kind} standby alone")
        log(f"  {kind} #{rep} {leases:,}: standby ready {load_s:.1f}s after exec, partner-down {alone:.1f}s later")
        cap = Tcpdump(pair.work / "resync.pcap")
        perf = BgPerf(RESYNC_RATE, int(bound) + 20)
        time.sleep(2)
        t0_wall, t0 = time.time(), time.monotonic()
        s1 = pair.server(1, None, sync_timeout)
        seen: list = []
        recovered = None
        ready_s = None
        while time.monotonic() - t0 < bound:
            now = poller.states()
            if not seen or seen[-1][1] != now:
                seen.append((round(time.monotonic() - t0, 2), now))
            if ready_s is None and s1.ready():
                ready_s = s1._ready
            if now == (HS, HS):
                recovered = time.monotonic() - t0
                break
            for s in (s1, s2):
                s.check_alive()
            time.sleep(0.1)
        t_end_wall = time.time()
        time.sleep(3)
        res = perf.finish(interrupt=True)
        perf = None
        cap.stop()
        win = window_stats(cap.path, t0_wall, t_end_wall)
        mem = {"s1": s1.memory_kb(), "s2": s2.memory_kb()}
        states_str = " ".join(f"{t}s:{a}/{c}" for t, (a, c) in seen)
        if recovered is None:
            log(f"  !! {kind} #{rep} {leases:,}: not back in hot-standby within {bound}s; states {states_str}")
            log(s1.log_tail(40))
            log(s2.log_tail(40))
        v1, v2 = bound_leases(s1.lease_path), bound_leases(s2.lease_path)
        missing = [a for a, hw in v2.items() if v1.get(a) != hw]
        held = {"s1": len(v1), "s2": len(v2), "missing_on_s1": len(missing), "missing_examples": missing[:5]}
        del v1, v2
        log(f"  {kind} #{rep} {leases:,}: returning primary ready {ready_s}s, both hot-standby "
            f"{recovered if recovered is None else round(recovered, 2)}s after its exec; window: {win['clients']} "
            f"new clients, {win['no_ack']} never ACKed, {win['late_1s']} ACKed over 1 s after the REQUEST, REQUEST-ACK "
            f"p50/p99 {win['ra_p50_ms']}/{win['ra_p99_ms']} ms, longest without ACK {win['max_ack_gap_s']:.2f}s; "
            f"perfdhcp {res['discovers']:.0f} DISCOVERs {res['fail_pct']:.2f}% without ACK; leases held "
            f"{held}; VmRSS s1 {mem['s1']['VmRSS'] // 1024} MB s2 {mem['s2']['VmRSS'] // 1024} MB")  # fmt: skip
        log(f"    states (primary/standby): {states_str}")
        return {"leases": leases, "standby_load_s": load_s, "standby_alone_s": alone, "primary_ready_s": ready_s,
                "recovered_s": recovered, "t0_wall": t0_wall, "t_end_wall": t_end_wall, "states": seen, "window": win, "perf": res, "mem": mem, "held": held,
                "sync_timeout_ms": sync_timeout if kind == "kea" else None}  # fmt: skip
    finally:
        if perf is not None:
            perf.kill()
        if cap is not None:
            cap.stop()
        pair.stop_all()


# ------------------------------------------------------------------ report


def col(results, kind, step, *path):
    out = []
    for rep in results.get(step, {}).get(kind, []):
        v = rep
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        out.append(v)
    return out


def ratio(nd: list, kea: list, lower_better: bool) -> str:
    """How many times better netdhcpd's median is than Kea's (Kea / netdhcpd for costs)."""
    a, k = b.med(nd)[0], b.med(kea)[0]
    if a is None or k is None or a == 0 or k == 0:
        return "—"
    x = k / a if lower_better else a / k
    if x >= 100:
        return f"{x:,.0f}x"
    return f"{x:.2f}x" if x >= 0.01 else f"1/{1 / x:,.0f}x"


def report(results: dict) -> str:
    steps = [s for s in ("throughput", "takeover", "resync", "resync-2m") if s in results]
    kinds = [k for k in ("kea", "nd") if any(k in results[s] for s in steps)]
    figures = [
        ("pair DORA/s at the knee (<1% without ACK)", "throughput", ("knee", "knee"), 0, False),
        (f"primary CPU µs per DORA at {FIXED_RATE:,}/s", "throughput", ("fixed", "cpu_us_primary"), 0, True),
        (f"standby CPU µs per DORA at {FIXED_RATE:,}/s", "throughput", ("fixed", "cpu_us_standby"), 0, True),
        (f"REQUEST-ACK p50 at {FIXED_RATE:,}/s (ms)", "throughput", ("fixed", "ra_p50"), 2, True),
        (f"REQUEST-ACK p99 at {FIXED_RATE:,}/s (ms)", "throughput", ("fixed", "ra_p99"), 2, True),
        ("takeover: kill -9 to the standby's first ACK (s)", "takeover", ("first_ack_s",), 2, True),
        ("takeover: kill -9 to partner-down in ha-heartbeat (s)", "takeover", ("partner_down_s",), 2, True),
        (f"takeover: perfdhcp's DISCOVERs without ACK ({TAKEOVER_RATE}/s for {TAKEOVER_SECONDS} s, kill at "
         f"{TAKEOVER_KILL_AT:.0f} s)", "takeover", ("perf", "lost"), 0, True),
    ]
    for step, n in (("resync", 100_000), ("resync-2m", 2_000_000)):
        figures += [
            (f"resync {n:,}: primary's exec to both hot-standby (s)", step, ("recovered_s",), 2, True),
            (f"resync {n:,}: new clients in that time (DISCOVER sent)", step, ("window", "clients"), 0, None),
            (f"resync {n:,}: of those, never ACKed (capture)", step, ("window", "no_ack"), 0, True),
            (f"resync {n:,}: of those, ACKed over 1 s after the REQUEST (capture)", step, ("window", "late_1s"), 0, True),
            (f"resync {n:,}: perfdhcp's DISCOVERs without ACK, its whole run (from 2 s before the restart "
             f"to 3 s after hot-standby)", step, ("perf", "lost"), 0, True),
            (f"resync {n:,}: the same, % of its DISCOVERs", step, ("perf", "fail_pct"), 1, True),
            (f"resync {n:,}: their REQUEST-ACK p50 (ms)", step, ("window", "ra_p50_ms"), 2, True),
            (f"resync {n:,}: their REQUEST-ACK p99 (ms)", step, ("window", "ra_p99_ms"), 2, True),
            (f"resync {n:,}: longest time without any ACK (s)", step, ("window", "max_ack_gap_s"), 2, True),
            (f"resync {n:,}: survivor's leases missing on the returning primary", step,
             ("held", "missing_on_s1"), 0, True),
        ]
    figures += [
        ("VmRSS of the primary with 2,000,000 leases after the sync (MB)", "resync-2m", ("mem", "s1", "VmRSS"), 0, True),
        ("VmRSS of the standby with 2,000,000 leases after the sync (MB)", "resync-2m", ("mem", "s2", "VmRSS"), 0, True),
    ]
    rows = ["| figure | " + " | ".join(NAMES[k] for k in kinds) + (" | netdhcpd vs Kea |" if len(kinds) == 2 else " |")]
    rows.append("|" + "---|" * (1 + len(kinds) + (1 if len(kinds) == 2 else 0)))
    for name, step, path, digits, lower_better in figures:
        vals = {}
        for k in kinds:
            v = col(results, k, step, *path)
            if "VmRSS" in path:
                v = [x / 1024 if x is not None else None for x in v]
            if path == ("perf", "lost"):  # results written before "lost" was stored
                v = [x if x is not None else r["perf"]["discovers"] - r["perf"]["acks"]
                     for x, r in zip(v, results.get(step, {}).get(k, []))]  # fmt: skip
            vals[k] = v
        cells = [b.fmt(vals[k], "", digits) if vals[k] else "—" for k in kinds]
        if all(c == "—" for c in cells):
            continue
        if len(kinds) == 2:
            ok = lower_better is not None and vals["nd"]
            cells.append(ratio(vals["nd"], vals["kea"], lower_better) if ok else "—")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--report":
        results = json.loads(Path(sys.argv[2]).read_text())
        m = results["machine"]
        print(f"Machine: {m['nproc']} cores, {m['cpu']}; Kea {m['kea']}; {m['date']}; medians of {m['repeats']} "
              f"runs ({m['repeats_2m']} for 2,000,000 leases) [min–max]")  # fmt: skip
        print(report(results))
        return 0
    if os.geteuid() != 0:
        print("ha.py needs root (network namespaces)", file=sys.stderr)
        return 2
    for tool in ("perfdhcp", "kea-dhcp4", "ip", "tcpdump"):
        if not shutil.which(tool):
            print(f"{tool} not found: apt-get install kea-dhcp4-server kea-admin iproute2 tcpdump", file=sys.stderr)
            return 2
    for hook in ("libdhcp_ha.so", "libdhcp_lease_cmds.so"):
        if not Path("/usr/lib/x86_64-linux-gnu/kea/hooks", hook).exists():
            print(f"Kea hook {hook} not found (kea-dhcp4-server)", file=sys.stderr)
            return 2
    if "nd" in PRODUCTS and not NETDHCPD.exists():
        print(f"{NETDHCPD} not found: cargo build --release -p netdhcpd", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-ha-bench."))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    machine = {
        "nproc": os.cpu_count(),
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "kea": sh("kea-dhcp4", "-v").stdout.strip(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeats": REPEATS,
        "repeats_2m": REPEATS_2M,
        "page": PAGE,
        "kea_sync_timeout_ms": KEA_SYNC_TIMEOUT,
        "kea_sync_timeout_2m_ms": KEA_SYNC_TIMEOUT_2M,
        "resync_first_address": RESYNC_FIRST_ADDRESS,
        "netdhcpd": str(NETDHCPD),
        "git": sh("git", "-C", str(REPO), "describe", "--always", "--dirty", check=False).stdout.strip(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3],
    }
    log(f"work directory {work}; machine {machine}")
    results: dict = {"machine": machine}

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    steps = [s for s in ("throughput", "takeover", "resync", "resync-2m") if not HA_ONLY or s in HA_ONLY]
    poller = None
    try:
        netns_up()
        poller = PeerPoller()
        for step in steps:
            results[step] = {}
            lease_file = None
            if step in RESYNC_SIZES:
                n = RESYNC_SIZES[step]
                lease_file = work / f"leases4-{n}.csv"
                log(f"generating {n:,} leases in {lease_file}")
                sh(sys.executable, str(HERE / "gen-leases4.py"), str(lease_file), str(n), RESYNC_FIRST_ADDRESS,
                   timeout=300)  # fmt: skip
            reps = REPEATS_2M if step == "resync-2m" else REPEATS
            for rep in range(1, reps + 1):
                for kind in PRODUCTS:
                    log(f"{step}: {NAMES[kind]}, run {rep}/{reps}")
                    try:
                        if step == "throughput":
                            r = throughput(kind, work, rep, poller)
                        elif step == "takeover":
                            r = takeover(kind, work, rep, poller)
                        else:
                            r = resync(kind, work, rep, poller, RESYNC_SIZES[step], lease_file)
                    except RuntimeError as e:
                        log(f"  !! {step} {kind} #{rep} failed: {e}")
                        r = {"error": str(e)[:4000]}
                    r["loadavg"] = open("/proc/loadavg").read().split()[:3]
                    results[step].setdefault(kind, []).append(r)
                    (work / "results.json").write_text(json.dumps(results, indent=1))
            if lease_file is not None:
                lease_file.unlink(missing_ok=True)
    finally:
        if poller is not None:
            poller.close()
        netns_down()
        machine["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
        machine["seconds"] = round(time.monotonic() - started)
        (work / "results.json").write_text(json.dumps(results, indent=1))
    print()
    print(f"Machine: {machine['nproc']} cores, {machine['cpu']}; Kea {machine['kea']}; {machine['date']}; medians of "
          f"{REPEATS} runs ({REPEATS_2M} for 2,000,000 leases) [min–max]; sync page {PAGE}; Kea sync-timeout "
          f"{KEA_SYNC_TIMEOUT} ms ({KEA_SYNC_TIMEOUT_2M} ms for 2,000,000); {machine['seconds']} s in all")  # fmt: skip
    print(report(results))
    print(f"\nRaw results (every perfdhcp command, states seen): {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
