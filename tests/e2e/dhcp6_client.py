#!/usr/bin/env python3
"""DHCPv6 exchanges for the end-to-end tests.

Two halves:

- Run as a script inside a namespace, it is a plain UDP endpoint: it reads one JSON object on
  stdin, binds a UDP socket (to a device, an address and a port), sends the given datagrams,
  collects replies until it has as many as asked for or its time is up, and prints them as
  JSON. It builds and checks nothing.

      {"iface": "vc1", "bind": ["::", 546], "sends": [{"dst": "ff02::1:2", "port": 547, "hex": "..."}],
       "expect": 1, "timeout": 3}

- Imported by the tests, `V6Client` builds messages with scapy's DHCPv6 layers in the test
  process, runs the script in the client namespace and decodes the replies with scapy.

Addresses: only inside 2001:db8::/32 and link-local, in namespaces the test created.
"""

from __future__ import annotations

import json
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ALL_SERVERS = "ff02::1:2"
SO_BINDTODEVICE = 25


# ---------------------------------------------------------------- script half


def _serve(spec: dict) -> dict:
    iface = spec["iface"]
    index = socket.if_nametoindex(iface)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode())
    addr, port = spec["bind"]
    scope = index if addr.startswith("fe80") else 0
    s.bind((addr, port, 0, scope))
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
    for m in spec["sends"]:
        dst = m["dst"]
        scope = index if dst.startswith("fe80") or dst.startswith("ff02") else 0
        s.sendto(bytes.fromhex(m["hex"]), (dst, m.get("port", 547), 0, scope))
    replies = []
    deadline = time.monotonic() + spec.get("timeout", 3)
    while len(replies) < spec.get("expect", 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([s], [], [], left)
        if not r:
            break
        data, src = s.recvfrom(65536)
        replies.append({"src": src[0].split("%")[0], "sport": src[1], "hex": data.hex()})
    return {"replies": replies}


if __name__ == "__main__":
    print(json.dumps(_serve(json.load(sys.stdin))))
    sys.exit(0)


# ---------------------------------------------------------------- test half

from scapy.layers import dhcp6 as d6  # noqa: E402

from loadtools import Capture  # noqa: E402


def parse(data: bytes):
    """A DHCPv6 message (any type, relay messages included) decoded by scapy."""
    return d6.get_cls(d6.dhcp6_cls_by_type.get(data[0], "DHCP6"), d6.DHCP6)(data)


def duid_ll(mac: str) -> d6.DUID_LL:
    return d6.DUID_LL(lladdr=mac)


def duid_bytes(duid) -> bytes:
    return bytes(duid)


def opts(msg, cls) -> list:
    """Every option of class `cls` at the top level of msg (scapy chains options as payloads)."""
    out = []
    p = msg.payload
    while p is not None and not isinstance(p, (type(None),)) and p.__class__.__name__ != "NoPayload":
        # Exact class: scapy derives the Server Identifier from the Client Identifier.
        if type(p) is cls:
            out.append(p)
        p = p.payload
    return out


def opt(msg, cls):
    found = opts(msg, cls)
    return found[0] if found else None


def status_of(container) -> int | None:
    """The status code inside an IA (or the message), or None."""
    if container is None:
        return None
    if isinstance(container, (d6.DHCP6OptIA_NA, d6.DHCP6OptIA_PD)):
        for o in container.ianaopts if isinstance(container, d6.DHCP6OptIA_NA) else container.iapdopt:
            if isinstance(o, d6.DHCP6OptStatusCode):
                return o.statuscode
        return None
    st = opt(container, d6.DHCP6OptStatusCode)
    return st.statuscode if st is not None else None


def ia_addresses(ia) -> list:
    return [o for o in ia.ianaopts if isinstance(o, d6.DHCP6OptIAAddress)]


def ia_prefixes(ia) -> list:
    return [o for o in ia.iapdopt if isinstance(o, d6.DHCP6OptIAPrefix)]


def unwrap(msg):
    """(innermost message, list of relay-reply layers outermost first)."""
    layers = []
    while isinstance(msg, d6.DHCP6_RelayReply):
        layers.append(msg)
        rm = opt(msg, d6.DHCP6OptRelayMsg)
        if rm is None:
            raise AssertionError("RELAY-REPL without a relay message")
        inner = rm.message
        msg = parse(bytes(inner))
    return msg, layers


class V6Client:
    """A client (or relay, or attacker) on the client end of the veth pair."""

    def __init__(self, ns, iface: str, mac: str, python: str | None = None):
        self.ns = ns
        self.iface = iface
        self.mac = mac
        self.python = python or os.path.join(os.path.dirname(os.path.dirname(HERE)), ".venv", "bin", "python")
        if not os.path.exists(self.python):
            self.python = sys.executable
        self.duid = duid_ll(mac)

    def exchange(
        self,
        payloads: list[bytes],
        *,
        dst: str = ALL_SERVERS,
        bind: tuple[str, int] = ("::", 546),
        expect: int = 1,
        timeout: float = 3.0,
    ) -> list[dict]:
        spec = {
            "iface": self.iface,
            "bind": list(bind),
            "sends": [{"dst": dst, "port": 547, "hex": p.hex()} for p in payloads],
            "expect": expect,
            "timeout": timeout,
        }
        cmd = ["ip", "netns", "exec", self.ns.name, self.python, os.path.join(HERE, "dhcp6_client.py")]
        p = subprocess.run(cmd, input=json.dumps(spec), capture_output=True, text=True, timeout=timeout + 30)
        if p.returncode != 0:
            raise AssertionError(f"dhcp6_client.py failed: {p.stderr}")
        out = json.loads(p.stdout)["replies"]
        for r in out:
            r["msg"] = parse(bytes.fromhex(r["hex"]))
        return out

    def one(self, payload, **kw):
        """Sends one message; the decoded reply (None when none came)."""
        replies = self.exchange([bytes(payload)], **kw)
        return replies[0]["msg"] if replies else None

    # ---- message builders ----

    @staticmethod
    def trid() -> int:
        return random.randrange(1, 1 << 24)

    def base(self, cls, *, duid=None, server_duid=None, trid=None):
        m = cls(trid=trid if trid is not None else self.trid())
        if duid is not False:
            m = m / d6.DHCP6OptClientId(duid=duid if duid is not None else self.duid)
        if server_duid is not None:
            m = m / d6.DHCP6OptServerId(duid=server_duid)
        return m / d6.DHCP6OptElapsedTime()

    @staticmethod
    def ia_na(iaid: int, addrs=()):
        return d6.DHCP6OptIA_NA(iaid=iaid, ianaopts=[d6.DHCP6OptIAAddress(addr=a, preflft=0, validlft=0) for a in addrs])

    @staticmethod
    def ia_pd(iaid: int, prefixes=()):
        return d6.DHCP6OptIA_PD(
            iaid=iaid, iapdopt=[d6.DHCP6OptIAPrefix(prefix=p, plen=l, preflft=0, validlft=0) for p, l in prefixes]
        )


def relay_forw(inner: bytes, *, link: str, peer: str, interface_id: bytes | None = None, hops: int = 0):
    m = d6.DHCP6_RelayForward(hopcount=hops, linkaddr=link, peeraddr=peer)
    if interface_id is not None:
        m = m / d6.DHCP6OptIfaceId(ifaceid=interface_id)
    return bytes(m / d6.DHCP6OptRelayMsg(message=parse(inner)))


def server_duid_of(msg):
    """The Server Identifier's DUID (a scapy DUID), to send back in REQUEST and the like."""
    sid = opt(msg, d6.DHCP6OptServerId)
    assert sid is not None, "reply without a Server Identifier"
    return sid.duid


def struct_u16(v: int) -> bytes:
    return struct.pack("!H", v)


class Capture6(Capture):
    """loadtools.Capture for DHCPv6 traffic (UDP 546/547), with a marker sent from a client."""

    def __init__(self, ns, iface: str, path):
        super().__init__(ns, iface, path, bpf="udp port 546 or udp port 547", snaplen=2000)

    def flush(self, client: "V6Client", timeout: float = 10.0):
        """Sends a marker datagram (to ff02::1, port 546, which no server listens on) and waits
        until tcpdump has written it: everything captured before is then in the file."""
        marker = f"netdhcp-capture-marker-{os.getpid()}-{time.time_ns()}".encode()
        spec = {"iface": client.iface, "bind": ["::", 0], "sends": [{"dst": "ff02::1", "port": 546, "hex": marker.hex()}],
                "expect": 0, "timeout": 0}
        cmd = ["ip", "netns", "exec", client.ns.name, client.python, os.path.join(HERE, "dhcp6_client.py")]
        subprocess.run(cmd, input=json.dumps(spec), capture_output=True, text=True, timeout=30, check=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in open(self.path, "rb").read():
                return
            time.sleep(0.05)
        raise AssertionError(f"tcpdump did not write the marker to {self.path} within {timeout}s")


def pcap_replies(path) -> list[tuple[str, bytes, int]]:
    """Every address granted (valid lifetime > 0) in a REPLY sent to a client (port 546) in a
    pcap: (address, client DUID bytes, valid lifetime), in capture order."""
    from scapy.layers.inet import UDP
    from scapy.utils import PcapReader

    out = []
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return out
    with PcapReader(str(path)) as reader:
        for pkt in reader:
            if UDP not in pkt or pkt[UDP].dport != 546:
                continue
            data = bytes(pkt[UDP].payload)
            if not data or data[0] != 7:
                continue
            m = parse(data)
            cid = opt(m, d6.DHCP6OptClientId)
            if cid is None:
                continue
            for ia in opts(m, d6.DHCP6OptIA_NA):
                for a in ia_addresses(ia):
                    if a.validlft > 0:
                        out.append((a.addr, bytes(cid.duid), a.validlft))
    return out


def with_ias_msg(m, *ias):
    """m with the IA options appended."""
    for ia in ias:
        m = m / ia
    return m
