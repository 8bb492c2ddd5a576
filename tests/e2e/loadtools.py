"""Tools of the load, crash and interoperability tests: perfdhcp, tcpdump captures, ISC Kea's
kea-dhcp4 and kea-lfc, Kea memfile arithmetic, and many DHCP exchanges from one process.

Everything here runs inside the namespaces of a test topology (netns.Topology) and is
bounded: every process started has a timeout and is ended by its PID.

Run as a script inside a client namespace it performs many exchanges in one process (the
per-call client, dhcp4_client.py, starts one Python process per exchange):

    ip netns exec NS python loadtools.py --iface vc1 --timeout 2 discover  02:..:01 02:..:02
    ip netns exec NS python loadtools.py --iface vc1 --timeout 2 dora      02:..:01=01:02:..:01

Each client is MAC[=CLIENT-ID-HEX][@REQUESTED-ADDRESS]. It prints one JSON object: per client, the decoded reply
(or replies, for dora) as dhcp4_client.py decodes them. Frames are built and read with the
harness's own pieces (dhcp4_client.build_frame, dhcp4_client.Link, dhcp4_wire).
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhcp4_wire as wire  # noqa: E402
from daemon import LEASE4_HEADER  # noqa: E402

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------- lease files (Kea memfile)


def read_lease_rows(path: Path | str) -> list[dict]:
    """Rows of a Kea DHCPv4 memfile as dicts, in file order; [] when the file is missing."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header is None:
            return []
        assert header == LEASE4_HEADER, f"{path}: header {header} is not Kea 2.2's {LEASE4_HEADER}"
        rows = []
        for lineno, fields in enumerate(r, start=2):
            assert len(fields) == len(header), f"{path}:{lineno}: {len(fields)} fields, expected {len(header)}: {fields}"
            rows.append(dict(zip(header, fields)))
        return rows


def live_leases(rows: list[dict]) -> dict[str, dict]:
    """The lease set a memfile describes: the last row for an address wins, and a row with
    valid_lifetime 0 deletes the lease. Returns address -> row."""
    live: dict[str, dict] = {}
    for row in rows:
        if int(row["valid_lifetime"]) == 0:
            live.pop(row["address"], None)
        else:
            live[row["address"]] = row
    return live


def hwaddrs_per_address(rows: list[dict]) -> dict[str, set[str]]:
    """address -> every hwaddr that held it (rows with valid_lifetime > 0)."""
    out: dict[str, set[str]] = {}
    for row in rows:
        if int(row["valid_lifetime"]) > 0:
            out.setdefault(row["address"], set()).add(row["hwaddr"])
    return out


def addresses_held_twice(rows: list[dict]) -> dict[str, set[str]]:
    """Addresses that were granted to more than one hwaddr (no release in between is
    assumed by the caller: this is only meaningful for files without deletions)."""
    return {a: hws for a, hws in hwaddrs_per_address(rows).items() if len(hws) > 1}


# ---------------------------------------------------------------- perfdhcp

PERFDHCP = "perfdhcp"


def parse_perfdhcp(text: str) -> dict[str, dict[str, float]]:
    """perfdhcp's report as {'DISCOVER-OFFER': {'sent packets': 599.0, 'drops': 0.0, ...},
    'REQUEST-ACK': {...}, 'rate': {'rate': 199.6}}."""
    stats: dict[str, dict[str, float]] = {}
    section = None
    for line in text.splitlines():
        m = re.match(r"\*\*\*Statistics for: (\S+)\*\*\*", line.strip())
        if m:
            section = stats.setdefault(m.group(1), {})
            continue
        if line.startswith("***"):
            section = None
            continue
        m = re.match(r"Rate: ([0-9.]+) 4-way exchanges/second", line)
        if m:
            stats.setdefault("rate", {})["rate"] = float(m.group(1))
            continue
        m = re.match(r"([a-z][a-z ]+): (-?[0-9.]+)", line.strip())
        if m and section is not None:
            section[m.group(1)] = float(m.group(2))
    return stats


@dataclass
class PerfResult:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def get(self, exchange: str, key: str) -> int:
        try:
            return int(self.stats[exchange][key])
        except KeyError as e:
            raise AssertionError(f"perfdhcp printed no '{key}' for {exchange}:\n{self.stdout}\n{self.stderr}") from e

    def describe(self) -> str:
        return f"$ {' '.join(self.cmd)}\nexit {self.returncode}\n{self.stdout}\n{self.stderr}"


def perfdhcp_cmd(iface: str, *, rate: int, clients: int, seconds: int, base_mac: str, extra=()) -> list[str]:
    """perfdhcp DHCPv4 from iface (which must have an IPv4 address: perfdhcp sends from it,
    as a relay, with giaddr set to it): `rate` DORAs per second for `seconds`, MACs counted
    up from base_mac over `clients` values."""
    return [
        PERFDHCP, "-4", "-l", iface, "-r", str(rate), "-R", str(clients), "-p", str(seconds),
        "-b", f"mac={base_mac}", *extra,
    ]  # fmt: skip


def run_perfdhcp(ns, iface: str, *, rate: int, clients: int, seconds: int, base_mac: str, extra=()) -> PerfResult:
    """Run perfdhcp to its end (bounded: `seconds` plus a margin) and parse its report."""
    cmd = perfdhcp_cmd(iface, rate=rate, clients=clients, seconds=seconds, base_mac=base_mac, extra=extra)
    p = ns.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        raise AssertionError(f"perfdhcp did not end within {seconds + 30}s:\n{out}\n{err}")
    return PerfResult(cmd, p.returncode, out, err, parse_perfdhcp(out))


def finish_perfdhcp(p: subprocess.Popen, cmd: list[str], timeout: float) -> PerfResult:
    """Wait (bounded) for a perfdhcp started with ns.popen(..., stdout=PIPE, text=True)."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate(timeout=10)
        err += f"\n(killed after {timeout}s)"
    return PerfResult(cmd, p.returncode, out, err, parse_perfdhcp(out))


def mac_add(mac: str, n: int) -> str:
    v = int(mac.replace(":", ""), 16) + n
    return ":".join(f"{(v >> s) & 0xFF:02x}" for s in range(40, -8, -8))


# ---------------------------------------------------------------- tcpdump captures


class Capture:
    """tcpdump writing DHCP traffic on one interface to a pcap file, packet-buffered (-U) so
    a capture stopped at any moment holds everything it saw. Started before the traffic
    (start() returns once tcpdump says it is listening) and stopped by its PID."""

    def __init__(self, ns, iface: str, path: Path | str, bpf: str = "udp port 67 or udp port 68", snaplen: int = 1500):
        self.ns = ns
        self.iface = iface
        self.path = Path(path)
        self.bpf = bpf
        self.snaplen = snaplen
        self.proc: subprocess.Popen | None = None
        self.report = ""

    def start(self, timeout: float = 10.0):
        self.proc = self.ns.popen(
            "tcpdump", "-i", self.iface, "-n", "-U", "-s", str(self.snaplen), "-w", str(self.path),
            self.bpf,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.1)
            if r:
                line = self.proc.stderr.readline()
                seen += line
                if b"listening on" in line:
                    return self
                if not line:
                    break
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"tcpdump did not start listening on {self.iface}: {seen.decode(errors='replace')}")

    def flush(self, timeout: float = 10.0):
        """Make sure tcpdump has written everything it was given so far: send a marker frame
        (UDP port 68 to 68, which no DHCP server listens on) out of the interface and wait
        until it is in the file. Call it once the traffic of interest has ended."""
        marker = f"netdhcp-capture-marker-{os.getpid()}-{time.time_ns()}"
        p = self.ns.run(sys.executable, str(HERE / "loadtools.py"), "--iface", self.iface, "marker", marker,
                        check=False, timeout=30)  # fmt: skip
        assert p.returncode == 0, f"marker frame not sent: {p.stderr}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.encode() in self.path.read_bytes():
                return
            time.sleep(0.05)
        raise AssertionError(f"tcpdump did not write the marker frame to {self.path} within {timeout}s")

    def stop(self) -> str:
        """SIGINT (tcpdump flushes and prints its counts), bounded wait, SIGKILL after.
        Returns tcpdump's closing report ('N packets captured ... dropped by kernel')."""
        p = self.proc
        if p is None:
            return self.report
        if p.poll() is None:
            os.kill(p.pid, signal.SIGINT)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        self.report = p.stderr.read().decode(errors="replace") if p.stderr else ""
        p.stderr.close()
        self.proc = None
        return self.report


@dataclass(frozen=True)
class WireAck:
    yiaddr: str
    chaddr: str
    xid: int
    lease_time: int | None


def pcap_acks(path: Path | str) -> list[WireAck]:
    """Every DHCPACK (option 53 = 5) in a pcap, in capture order, parsed with scapy."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.utils import PcapReader

    out = []
    if not Path(path).exists() or Path(path).stat().st_size == 0:
        return out
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if BOOTP not in pkt or DHCP not in pkt:
                continue
            b = pkt[BOOTP]
            if b.op != 2:
                continue
            opts = {o[0]: o[1:] for o in pkt[DHCP].options if isinstance(o, tuple) and len(o) >= 2}
            if opts.get("message-type", (None,))[0] != 5:
                continue
            lt = opts.get("lease_time", (None,))[0]
            chaddr = wire.colon_hex(bytes(b.chaddr)[: b.hlen])
            out.append(WireAck(b.yiaddr, chaddr, b.xid, lt))
    return out


# ---------------------------------------------------------------- ISC Kea 2.2


class KeaServer:
    """An ISC Kea DHCP server (kea-dhcp4 or kea-dhcp6) in a test namespace, with its own work
    folder: configuration, memfile, log, PID and lock files. Readiness is Kea's own log message
    (DHCP4_STARTED / DHCP6_STARTED)."""

    program = ""
    started = ""

    def __init__(self, ns, workdir: Path, config: dict):
        self.ns = ns
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"{self.program}.json"
        self.config_path.write_text(json.dumps(config, indent=2))
        self.log_path = self.workdir / f"{self.program}.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0):
        env = dict(os.environ, KEA_PIDFILE_DIR=str(self.workdir), KEA_LOCKFILE_DIR=str(self.workdir))
        log = open(self.log_path, "ab")
        try:
            self.proc = self.ns.popen(
                self.program, "-c", str(self.config_path),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_text()
            if self.started in text:
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.program} exited {self.proc.returncode} before {self.started}:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"{self.program} logged no {self.started} within {timeout}s:\n{self.log_text()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        return p.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


class KeaDhcp4(KeaServer):
    """kea-dhcp4 (see KeaServer)."""

    program = "kea-dhcp4"
    started = "DHCP4_STARTED"

    @staticmethod
    def config(iface: str, lease_file: Path, subnets: list[dict], **globals_) -> dict:
        cfg = {
            "interfaces-config": {"interfaces": [iface], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": True, "name": str(lease_file), "lfc-interval": 0},
            "subnet4": subnets,
            "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
        }
        cfg.update(globals_)
        return {"Dhcp4": cfg}


def run_kea_lfc(base: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """kea-lfc on the file set of memfile `base`, named as Kea's memfile names it:
    previous base.1, input (copy) base.2, output base.output, finish base.completed,
    PID file base.pid. No configuration file is needed for DHCPv4 (-c is a placeholder)."""
    b = str(base)
    cmd = ["kea-lfc", "-4", "-x", b + ".1", "-i", b + ".2", "-o", b + ".output", "-f", b + ".completed",
           "-p", b + ".pid", "-c", "/dev/null", "-d"]  # fmt: skip
    # Kea's logger wants a lock file; keep it (and any PID file) next to the leases.
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(Path(base).parent), KEA_PIDFILE_DIR=str(Path(base).parent))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


# ---------------------------------------------------------------- many exchanges, one process


def exchanges(ns, iface: str, cmd: str, clients: list[tuple[str, str | None]], timeout: float = 2.0) -> dict:
    """Run `cmd` (discover or dora) for each client in turn, in one process inside ns. A
    client is (mac, client_id_hex_or_None) or (mac, client_id_hex_or_None, requested_address).
    Returns {mac: result}: for discover the OFFER (decoded dict) or None; for dora
    {'offer': ..., 'ack': ...}."""
    specs = []
    for c in clients:
        mac, cid, req = (tuple(c) + (None,))[:3]
        specs.append(mac + (f"={cid}" if cid else "") + (f"@{req}" if req else ""))
    bound = len(clients) * (2 * timeout + 1) + 30
    p = ns.run(sys.executable, str(HERE / "loadtools.py"), "--iface", iface, "--timeout", str(timeout), cmd, *specs,
               check=False, timeout=bound)  # fmt: skip
    if p.returncode != 0:
        raise AssertionError(f"loadtools.py {cmd} exited {p.returncode}:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _client_main(argv=None):
    import argparse

    import dhcp4_client as dc

    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("cmd", choices=["discover", "dora", "marker"])
    ap.add_argument("clients", nargs="+", help="MAC[=CLIENT-ID-HEX][@REQUESTED-ADDRESS] (marker: the marker text)")
    a = ap.parse_args(argv)
    link = dc.Link(a.iface)
    if a.cmd == "marker":
        frame = dc.build_frame(src_mac="02:00:00:00:00:fe", dst_mac=dc.BROADCAST_MAC, src_ip="0.0.0.0",
                               dst_ip="255.255.255.255", sport=68, dport=68, payload=a.clients[0].encode())  # fmt: skip
        link.send(frame)
        return

    def send(mac, cid, xid, msg_type, requested=None, server_id=None):
        opts = [(wire.OPT_MESSAGE_TYPE, bytes([wire.MESSAGE_CODES[msg_type]]))]
        if cid:
            opts.append((wire.OPT_CLIENT_ID, wire.hex_bytes(cid)))
        if requested:
            opts.append((wire.OPT_REQUESTED_ADDRESS, wire.ip_bytes(requested)))
        if server_id:
            opts.append((wire.OPT_SERVER_ID, wire.ip_bytes(server_id)))
        payload = wire.encode(xid=xid, chaddr=wire.mac_bytes(mac), options=opts)
        frame = dc.build_frame(src_mac=mac, dst_mac=dc.BROADCAST_MAC, src_ip="0.0.0.0", dst_ip="255.255.255.255",
                               sport=68, dport=67, payload=payload)  # fmt: skip
        link.send(frame)

    def wait(mac, xid):
        got = link.receive(
            time.monotonic() + a.timeout,
            lambda m: m.get("op") == wire.BOOTREPLY and m.get("xid") == xid and m.get("chaddr") == mac.lower(),
            limit=1,
        )
        return got[0] if got else None

    out = {}
    for spec in a.clients:
        spec, _, req = spec.partition("@")
        mac, _, cid = spec.partition("=")
        mac = mac.lower()
        xid = random.getrandbits(32)
        send(mac, cid or None, xid, "discover", requested=req or None)
        offer = wait(mac, xid)
        if a.cmd == "discover":
            out[mac] = offer
            continue
        ack = None
        if offer is not None and offer.get("message_type") == "offer":
            send(mac, cid or None, xid, "request", requested=offer["yiaddr"], server_id=offer["server_id"])
            ack = wait(mac, xid)
        out[mac] = {"offer": offer, "ack": ack}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    _client_main()
