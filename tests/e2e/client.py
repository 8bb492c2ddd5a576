"""Run dhcp4_client.py inside a test namespace and hand back decoded replies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dhcp4_wire as wire
from netns import Netns

SCRIPT = Path(__file__).resolve().parent / "dhcp4_client.py"


def mac(i: int) -> str:
    """A locally administered MAC for test client number i (never 02:00:00:00:00:50, the
    reserved host of the standard config)."""
    return f"02:00:00:01:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


class Msg(dict):
    """A decoded DHCP message (see dhcp4_wire.decode), with attribute access."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(name) from e

    def opt(self, code: int) -> bytes | None:
        """Raw payload of an option, None when absent."""
        v = self["options"].get(str(code))
        return None if v is None else bytes.fromhex(v)

    def has(self, code: int) -> bool:
        return str(code) in self["options"]

    def brief(self) -> str:
        return (
            f"{self.get('message_type')} yiaddr={self.get('yiaddr')} to {self.get('ip_dst')}:{self.get('dport')}"
            f" options={self.get('option_order')}"
        )


def _msg(d):
    return None if d is None else Msg(d)


class ClientError(RuntimeError):
    pass


class Dhcp4Client:
    """Sends DHCPv4 client (or relay) messages from one interface of one namespace."""

    def __init__(self, ns: Netns, iface: str, server_mac: str | None = None, server_ip: str = "100.64.0.1"):
        self.ns = ns
        self.iface = iface
        self.server_mac = server_mac
        self.server_ip = server_ip

    def run(
        self,
        cmd: str,
        *,
        mac: str = "02:00:00:01:00:01",
        client_id: str | None = None,
        hostname: str | None = None,
        broadcast: bool = False,
        prl: list[int] | None = None,
        options: list[tuple[int, bytes]] = (),
        xid: int | None = None,
        giaddr: str | None = None,
        option82: bytes | None = None,
        relay: bool = False,
        src_ip: str | None = None,
        dst_ip: str | None = None,
        dst_mac: str | None = None,
        timeout: float = 3.0,
        collect_all: bool = False,
        **sub,
    ) -> dict:
        args = [sys.executable, str(SCRIPT), "--iface", self.iface, "--mac", mac, "--timeout", str(timeout)]
        if client_id:
            args += ["--client-id", client_id]
        if hostname:
            args += ["--hostname", hostname]
        if broadcast:
            args.append("--broadcast")
        if prl is not None:
            args += ["--prl", ",".join(str(c) for c in prl)]
        for code, value in options:
            args += ["--option", f"{code}:{value.hex()}"]
        if xid is not None:
            args += ["--xid", str(xid)]
        if giaddr:
            args += ["--giaddr", giaddr]
        if option82 is not None:
            args += ["--option82", option82.hex()]
        if relay:
            args += ["--relay", "--server", self.server_ip]
        if src_ip:
            args += ["--src-ip", src_ip]
        if dst_ip:
            args += ["--dst-ip", dst_ip]
        if dst_ip and dst_ip != "255.255.255.255" and not dst_mac:
            dst_mac = self.server_mac
        if sub.get("unicast") and not dst_mac:
            dst_mac = self.server_mac
        if dst_mac:
            args += ["--dst-mac", dst_mac]
        if collect_all:
            args.append("--all")
        args.append(cmd)
        for key, value in sub.items():
            if value is None or value is False:
                continue
            flag = "--" + key.replace("_", "-")
            args += [flag] if value is True else [flag, str(value)]
        p = self.ns.run(*args, check=False, timeout=2 * timeout + 30)
        if p.returncode != 0:
            raise ClientError(f"dhcp4_client.py {cmd} exited {p.returncode}:\n{p.stderr}")
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError) as e:
            raise ClientError(f"dhcp4_client.py {cmd}: no JSON on stdout: {p.stdout!r} {p.stderr!r}") from e

    # One method per exchange; each returns the first matching reply (Msg) or None.

    def discover(self, requested: str | None = None, **kw) -> Msg | None:
        return _msg(self.run("discover", requested=requested, **kw)["reply"])

    def request(self, *, requested=None, server_id=None, ciaddr=None, unicast=False, **kw) -> Msg | None:
        return _msg(
            self.run("request", requested=requested, server_id=server_id, ciaddr=ciaddr, unicast=unicast, **kw)["reply"]
        )

    def dora(self, requested: str | None = None, **kw) -> tuple[Msg | None, Msg | None]:
        out = self.run("dora", requested=requested, **kw)
        return _msg(out["offer"]), _msg(out["ack"])

    def discover_pair(self, **kw) -> tuple[Msg | None, Msg | None, float]:
        """Two clients' DISCOVERs, the second sent when the first's OFFER arrives: both OFFERs
        and the milliseconds between them."""
        out = self.run("discover-pair", **kw)
        return _msg(out["first"]), _msg(out["second"]), out["gap_ms"]

    def lease(self, **kw) -> Msg:
        """A full DORA that must end in an ACK; returns the ACK."""
        offer, ack = self.dora(**kw)
        assert offer is not None, f"no OFFER for {kw.get('mac')}"
        assert offer.message_type == "offer", f"expected OFFER, got {offer.brief()}"
        assert ack is not None, f"no reply to REQUEST for {offer.yiaddr} ({kw.get('mac')})"
        assert ack.message_type == "ack", f"expected ACK for {offer.yiaddr}, got {ack.brief()}"
        return ack

    def release(self, *, ciaddr: str, server_id: str, timeout: float = 1.0, **kw) -> Msg | None:
        kw.setdefault("dst_mac", self.server_mac)
        return _msg(self.run("release", ciaddr=ciaddr, server_id=server_id, timeout=timeout, **kw)["reply"])

    def decline(self, *, requested: str, server_id: str, timeout: float = 1.0, **kw) -> Msg | None:
        return _msg(self.run("decline", requested=requested, server_id=server_id, timeout=timeout, **kw)["reply"])

    def inform(self, *, ciaddr: str, server_id=None, unicast=False, **kw) -> Msg | None:
        return _msg(self.run("inform", ciaddr=ciaddr, server_id=server_id, unicast=unicast, **kw)["reply"])

    def raw(self, payload: bytes, timeout: float = 1.5, **kw) -> list[Msg]:
        out = self.run("raw", payload=payload.hex(), timeout=timeout, collect_all=True, **kw)
        return [Msg(r) for r in out["replies"]]


def capture_requests(ns: Netns, iface: str, count: int = 1, timeout: float = 5.0):
    """Start capturing BOOTREQUESTs on ns/iface (no server there). Returns (proc, collect):
    call collect() after sending to get the decoded requests."""
    p = ns.popen(
        sys.executable,
        str(SCRIPT),
        "--iface",
        iface,
        "--timeout",
        str(timeout),
        "capture",
        "--count",
        str(count),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = p.stdout.readline()
    if not first:
        raise ClientError(f"capture did not start: {p.stderr.read()}")
    assert json.loads(first) == {"ready": True}

    def collect():
        out, err = p.communicate(timeout=timeout + 10)
        if p.returncode != 0:
            raise ClientError(f"capture exited {p.returncode}: {err}")
        return [Msg(r) for r in json.loads(out.strip().splitlines()[-1])["requests"]]

    return p, collect


def message_type(m) -> str | None:
    return None if m is None else m.get("message_type")


__all__ = ["Dhcp4Client", "Msg", "mac", "capture_requests", "message_type", "wire"]
