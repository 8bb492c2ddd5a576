#!/usr/bin/env python3
"""NETCONF figures of netdhcpd, measured as the issue measured Netopeer2 2.4: a raw client
(paramiko, base:1.0 framing; ncraw.py), medians, with the DHCP server running.

Run as root through `ONLY=netconf bench/run.sh` (needs the project's .venv for paramiko).
netdhcpd runs in bench.py's namespace ndb-srv with bench/netdhcpd.xml.in (DHCPv4 on ndb-s,
durability fsync) and NETCONF on 127.0.0.1:830 there; this process enters ndb-srv, so its
client traffic stays on that namespace's loopback.

  - session setup: TCP connect + SSH handshake (host key checked) + authentication + netconf
    subsystem + <hello> exchange, public key (ed25519) and, separately, password (argon2);
  - get-config of the running datastore (the small configuration above);
  - edit-config (candidate) + commit adding one reservation to subnet 1;
  - edit-config + commit adding 10,000 reservations to subnet 1 (about 700 kB of XML), the
    get-config of those reservations (subtree filter), and their removal (edit + commit).

Netopeer2 2.4 is not installable on Debian 12; its figures are quoted from the issue.

Environment: NETDHCPD, BENCH_WORK, NC_SETUPS (20), NC_GETS (50), NC_EDITS (30), NC_BULK (3).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench
import ncraw
from bench import NS_SRV, Server, loadavg, log, netns_down, netns_up, sh

SETUPS = int(os.environ.get("NC_SETUPS", "20"))
GETS = int(os.environ.get("NC_GETS", "50"))
EDITS = int(os.environ.get("NC_EDITS", "30"))
BULK = int(os.environ.get("NC_BULK", "3"))
BULK_ENTRIES = 10_000

# The figures for Netopeer2 2.4 (+ sysrepo) on this machine; quoted, not measured here.
NETOPEER2_MS = {
    "setup_openssh": 66.0,
    "setup_pubkey": 66.0,
    "setup_pubkey_nagle": 66.0,
    "get_config": 1.2,
    "edit_commit_1": 5.4,
    "edit_commit_10k": 1100.0,
    "get_config_10k": 83.0,
}
FIGURES = [
    ("setup_openssh", "session setup: OpenSSH client (ed25519 public key), exec to the server's hello"),
    ("setup_pubkey", "session setup: paramiko, TCP_NODELAY (ed25519 public key): TCP + SSH + hello"),
    ("setup_pubkey_nagle", "session setup: paramiko without TCP_NODELAY (as ncclient), public key"),
    ("setup_password", "session setup with password auth (argon2)"),
    ("get_config", "get-config, running, small configuration"),
    ("edit_commit_1", "edit-config + commit, 1 list entry (a reservation)"),
    ("edit_commit_10k", f"edit-config + commit, {BULK_ENTRIES:,} reservations"),
    ("get_config_10k", f"get-config of those {BULK_ENTRIES:,} reservations (subtree filter)"),
    ("get_config_all_10k", "get-config of the whole running datastore holding them (no filter)"),
    ("remove_commit_10k", f"edit-config (remove) + commit of those {BULK_ENTRIES:,}"),
]


def subnet1(inner: str) -> str:
    return f'<server xmlns="{ncraw.ND_NS}"><dhcpv4><subnet><id>1</id>{inner}</subnet></dhcpv4></server>'


def reservation(i: int, base: int, remove: bool = False) -> str:
    """Reservation i of a block: address 100.{base + i // 65536}.x.y and a MAC."""
    a = (base << 16) + i
    ip = f"100.{a >> 16 & 255}.{a >> 8 & 255}.{a & 255}"
    if remove:
        return f'<reservation xmlns:nc="{ncraw.BASE_NS}" nc:operation="remove"><ip-address>{ip}</ip-address></reservation>'
    mac = f"0a:{base & 255:02x}:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}:01"
    return f"<reservation><ip-address>{ip}</ip-address><hw-address>{mac}</hw-address></reservation>"


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def measure(server: Server, key: Path) -> dict:
    host_key = ncraw.host_key_of(server.work / "state")
    res: dict = {k: [] for k, _ in FIGURES}
    loads: dict = {}

    cpu: dict = {}  # server CPU ms per operation
    known_hosts = server.work / "known_hosts"
    known_hosts.write_text(f"[{ncraw.HOST}]:{ncraw.PORT} ssh-ed25519 {base64.b64encode(host_key).decode()}\n")
    loads["setup_openssh"] = loadavg()
    c0 = server.cpu_seconds()
    for _ in range(SETUPS):
        res["setup_openssh"].append(ncraw.openssh_setup_ms(key, known_hosts))
    cpu["setup_openssh"] = (server.cpu_seconds() - c0) * 1000 / SETUPS
    log(f"  setup with OpenSSH's client: {bench.med(res['setup_openssh'])} ms, server CPU {cpu['setup_openssh']:.2f} ms")

    def server_cpu(name: str, c0: float, count: int):
        cpu[name] = (server.cpu_seconds() - c0) * 1000 / count

    for name, kw, count in (("setup_pubkey", {"key_file": key}, SETUPS),
                            ("setup_pubkey_nagle", {"key_file": key, "nodelay": False}, SETUPS),
                            ("setup_password", {"password": ncraw.PASSWORD}, max(5, SETUPS // 2))):  # fmt: skip
        loads[name] = loadavg()
        c0 = server.cpu_seconds()
        phases = []
        for _ in range(count):
            s = ncraw.Session(host_key, **kw)
            res[name].append(s.phases["total"])
            phases.append(s.phases)
            s.close()
        server_cpu(name, c0, count)
        res[f"{name}_phases"] = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
        log(f"  {name}: {bench.med(res[name])} ms, phases (median ms) {res[f'{name}_phases']}, server CPU {cpu[name]:.2f} ms")

    s = ncraw.Session(host_key, key_file=key)
    loads["get_config"] = loadavg()
    c0 = server.cpu_seconds()
    for _ in range(GETS):
        ms, r = timed(lambda: s.rpc("<get-config><source><running/></source></get-config>"))
        if b"<subnet>" not in r and b":subnet>" not in r:
            raise RuntimeError(f"get-config without the subnet: {r[:1000]!r}")
        res["get_config"].append(ms)
    server_cpu("get_config", c0, GETS)
    res["get_config_bytes"] = len(r)
    log(f"  get-config {bench.med(res['get_config'])} ms ({len(r)} bytes)")

    loads["edit_commit_1"] = loadavg()
    c0 = server.cpu_seconds()
    for i in range(EDITS):
        res["edit_commit_1"].append(s.edit_commit(subnet1(reservation(i, 100))) * 1000)
    server_cpu("edit_commit_1", c0, EDITS)
    log(f"  edit+commit 1 entry {bench.med(res['edit_commit_1'])} ms")

    flt = (f'<get-config><source><running/></source><filter type="subtree">'
           f'{subnet1("<reservation/>")}</filter></get-config>')  # fmt: skip
    loads["edit_commit_10k"] = loadavg()
    for rep in range(BULK):
        base = 110 + rep
        add = subnet1("".join(reservation(i, base) for i in range(BULK_ENTRIES)))
        res["bulk_bytes"] = len(add)
        c0 = server.cpu_seconds()
        res["edit_commit_10k"].append(s.edit_commit(add) * 1000)
        server_cpu("edit_commit_10k", c0, 1)
        c0 = server.cpu_seconds()
        ms, r = timed(lambda: s.rpc(flt))
        server_cpu("get_config_10k", c0, 1)
        got = len(re.findall(rb"<(?:\w+:)?reservation[ >]", r))
        if got != BULK_ENTRIES + EDITS:
            raise RuntimeError(f"get-config returned {got} reservations, expected {BULK_ENTRIES + EDITS}")
        res["get_config_10k"].append(ms)
        res["get_config_10k_bytes"] = len(r)
        ms, r = timed(lambda: s.rpc("<get-config><source><running/></source></get-config>"))
        res["get_config_all_10k"].append(ms)
        remove = subnet1("".join(reservation(i, base, remove=True) for i in range(BULK_ENTRIES)))
        res["remove_commit_10k"].append(s.edit_commit(remove) * 1000)
        log(f"  10k: edit+commit {res['edit_commit_10k'][-1]:.0f} ms ({len(add)} bytes), get-config "
            f"{ms:.1f} ms ({len(r)} bytes), remove+commit {res['remove_commit_10k'][-1]:.0f} ms")  # fmt: skip
    loads["end"] = loadavg()
    s.close()
    res["loads"] = loads
    res["server_cpu_ms"] = cpu
    return res


def report(res: dict) -> str:
    rows = [
        "| figure | netdhcpd (median [min–max]) | netdhcpd server CPU per operation | Netopeer2 2.4 (quoted) | target (1/3) | met | times better than Netopeer2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, name in FIGURES:
        vals = res.get(key) or []
        if not vals:
            continue  # not measured by this version of the script
        m = bench.med(vals)[0]
        cell = bench.fmt(vals, "", 2 if (m or 0) < 100 else 0) + f" ms (n={len(vals)})"
        c = res.get("server_cpu_ms", {}).get(key)
        if c is None:
            cell += " | —"
        elif c == 0:
            cell += f" | < {10 / max(1, len(vals)):.2f} ms (no clock tick)"
        else:
            cell += f" | {c:.2f} ms"
        ref = NETOPEER2_MS.get(key)
        if ref is None or m is None:
            rows.append(f"| {name} | {cell} | — | — | — | — |")
            continue
        rows.append(f"| {name} | {cell} | {ref:g} ms | {ref / 3:.2f} ms | {'yes' if m <= ref / 3 else 'NO'} | {ref / m:.1f}x |")
    loads = res.get("loads", {})
    if loads:
        one = [v[0] for v in loads.values()]
        rows.append(f"\n1-minute load average during the measurements: {min(one):.2f}–{max(one):.2f}")
    rows.append(f"edit-config of {BULK_ENTRIES:,} reservations: {res.get('bulk_bytes', 0):,} bytes; "
                f"their get-config reply {res.get('get_config_10k_bytes', 0):,} bytes; small get-config reply "
                f"{res.get('get_config_bytes', 0):,} bytes")  # fmt: skip
    for name in ("setup_pubkey", "setup_pubkey_nagle", "setup_password"):
        ph = res.get(f"{name}_phases")
        if ph:
            rows.append(f"{name} phases, client-measured medians (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in ph.items()))
    return "\n".join(rows)


def main() -> int:
    if os.geteuid() != 0:
        print("netconf_bench.py needs root (network namespaces)", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-bench-nc."))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    key, pub = ncraw.client_key(work)
    settings = work / "nc-settings.toml"
    settings.write_text(ncraw.settings_toml(bench.NETDHCPD, pub))
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "netdhcpd": str(bench.NETDHCPD)}
    server = None
    try:
        netns_up()
        srv_work = work / "nc-server"
        if srv_work.exists():
            sh("rm", "-rf", str(srv_work))
        server = Server("nd-fsync", srv_work, extra_args=("--settings", str(settings)))
        server.wait_ready(60)
        ncraw.enter_netns(NS_SRV)
        results["netconf"] = measure(server, key)
        mem = server.memory_kb()
        results["netconf"]["VmRSS_kB"] = mem["VmRSS"]
    finally:
        if server is not None:
            server.stop()
        netns_down()
        (work / "results-netconf.json").write_text(json.dumps(results, indent=1))
    print()
    print(f"NETCONF, {results['date']}, {time.monotonic() - started:.0f} s in all")
    print(report(results["netconf"]))
    print(f"\nRaw results: {work / 'results-netconf.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
