#!/usr/bin/env python3
"""Run ISC Kea 2.2 (kea-dhcp4) behind netdhcpd's command line, as a reference server.

    NETDHCPD=tests/e2e/kea-netdhcpd .venv/bin/pytest tests/e2e/test_dhcp4_protocol.py

The shim takes `run --state-dir DIR --startup FILE`, translates the netdhcp-server XML into
a Kea configuration (the leaves the tests use), starts kea-dhcp4, sends sd_notify READY=1
once Kea logs DHCP4_STARTED and forwards SIGTERM. It lets the tests themselves be checked
against an independent, widely deployed server; where Kea 2.2 differs from the netdhcp
model (Kea 2.2 does not hold offered addresses, for one), its failures are expected.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

NS = "{urn:netdhcp:yang:netdhcp-server}"


def texts(el, tag):
    return [c.text.strip() for c in el.findall(NS + tag) if c.text is not None]


def text(el, tag, default=None):
    c = el.find(NS + tag)
    return c.text.strip() if c is not None and c.text is not None else default


def lifetimes(el, out):
    for leaf, key in (("valid-lifetime", "valid-lifetime"), ("renew-timer", "renew-timer"), ("rebind-timer", "rebind-timer")):
        v = text(el, leaf)
        if v is not None:
            out[key] = int(v)


def options(el):
    data = []
    if texts(el, "router"):
        data.append({"name": "routers", "data": ", ".join(texts(el, "router"))})
    if texts(el, "dns-server"):
        data.append({"name": "domain-name-servers", "data": ", ".join(texts(el, "dns-server"))})
    if text(el, "domain-name"):
        data.append({"name": "domain-name", "data": text(el, "domain-name")})
    if texts(el, "domain-search"):
        data.append({"name": "domain-search", "data": ", ".join(texts(el, "domain-search"))})
    for o in el.findall(NS + "option"):
        fmt = text(o, "format", "hex")
        entry = {"code": int(text(o, "code")), "always-send": text(o, "always-send", "false") == "true"}
        if fmt == "hex":
            entry.update({"csv-format": False, "data": text(o, "value").replace(":", "")})
        else:
            entry["data"] = text(o, "value")
        data.append(entry)
    return data


def translate(xml_path: str, state_dir: str) -> dict:
    root = ET.parse(xml_path).getroot()
    v4 = root.find(NS + "dhcpv4")
    ldb = root.find(NS + "lease-database")
    lease_file = text(ldb, "memfile-v4", "leases4.csv") if ldb is not None else "leases4.csv"
    if not os.path.isabs(lease_file):
        lease_file = os.path.join(state_dir, lease_file)
    cfg = {
        "interfaces-config": {"interfaces": texts(v4, "interface"), "dhcp-socket-type": "raw"},
        "lease-database": {"type": "memfile", "name": lease_file, "lfc-interval": 0, "persist": True},
        "authoritative": text(v4, "authoritative", "true") == "true",
        "decline-probation-period": int(text(v4, "decline-probation-period", "86400")),
        "expired-leases-processing": {"reclaim-timer-wait-time": int(text(v4, "reclaim-interval", "10"))},
        "valid-lifetime": 3600,
        "option-data": options(v4),
        "subnet4": [],
        "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
    }
    lifetimes(v4, cfg)
    sid = text(v4, "server-identifier")
    if sid:
        cfg["option-data"].append({"name": "dhcp-server-identifier", "data": sid})
    for s in v4.findall(NS + "subnet"):
        sub = {
            "id": int(text(s, "id")),
            "subnet": text(s, "prefix"),
            "pools": [{"pool": f"{text(p, 'start')} - {text(p, 'end')}"} for p in s.findall(NS + "pool")],
            "option-data": options(s),
            "reservations": [],
        }
        if text(s, "interface"):
            sub["interface"] = text(s, "interface")
        if texts(s, "relay-address"):
            sub["relay"] = {"ip-addresses": texts(s, "relay-address")}
        lifetimes(s, sub)
        for r in s.findall(NS + "reservation"):
            res = {"ip-address": text(r, "ip-address"), "option-data": options(r)}
            if text(r, "hw-address"):
                res["hw-address"] = text(r, "hw-address")
            if text(r, "client-id"):
                res["client-id"] = text(r, "client-id")
            if text(r, "hostname"):
                res["hostname"] = text(r, "hostname")
            sub["reservations"].append(res)
        cfg["subnet4"].append(sub)
    return {"Dhcp4": cfg}


def notify_ready():
    path = os.environ.get("NOTIFY_SOCKET")
    if path:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"READY=1", path)
        s.close()


def main(argv):
    if len(argv) < 1 or argv[0] not in ("run", "check"):
        sys.exit("usage: kea_shim.py run --state-dir DIR --startup FILE")
    if argv[0] == "check":
        translate(argv[1], "/tmp")
        return 0
    args = dict(zip(argv[1::2], argv[2::2]))
    state_dir = os.path.abspath(args["--state-dir"])
    cfg = translate(args["--startup"], state_dir)
    cfg_path = os.path.join(state_dir, "kea-dhcp4.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    # A Kea killed with its shim (kill -9) leaves its PID file behind.
    for name in os.listdir(state_dir):
        if name.endswith(".pid"):
            os.unlink(os.path.join(state_dir, name))
    env = dict(os.environ, KEA_PIDFILE_DIR=state_dir, KEA_LOCKFILE_DIR=state_dir)
    env.pop("NOTIFY_SOCKET", None)
    libc = ctypes.CDLL("libc.so.6", use_errno=True)

    def die_with_parent():
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: a kill -9 of the shim ends Kea too

    kea = subprocess.Popen(
        ["kea-dhcp4", "-c", cfg_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=die_with_parent,
    )
    signal.signal(signal.SIGTERM, lambda *a: kea.send_signal(signal.SIGTERM))
    for line in iter(kea.stdout.readline, b""):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
        if b"DHCP4_STARTED" in line:
            notify_ready()
    return kea.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
