#!/usr/bin/env python3
"""A scriptable DHCPv4 client for the end-to-end tests. Run it inside a client namespace:

    ip netns exec NS .venv/bin/python tests/e2e/dhcp4_client.py --iface vc1 --mac 02:00:00:00:00:01 dora

It sends one exchange on the interface and prints one JSON object on stdout: the replies it
received, each decoded (fixed fields, options by code as hex, typed options, and the
Ethernet/IP/UDP addresses the reply was sent to). Nothing is asserted here: the tests do.

Client messages leave through an AF_PACKET socket, so the client needs no address, as a
real client in INIT state. Replies are read from a packet socket opened before the request
is sent, so no reply is missed, whatever address and port it was sent to. With --relay the
script plays a relay agent instead: it sends from a UDP socket bound to the relay address,
port 67, to the server, as a relay does, and reports replies sent to that address.

Subcommands: discover, request, dora, discover-pair, release, decline, inform, raw (alias
raw-bytes), capture.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhcp4_wire as wire  # noqa: E402

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
BROADCAST_MAC = "ff:ff:ff:ff:ff:ff"


def build_frame(*, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes) -> bytes:
    # Scapy fills in lengths and checksums.
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    frame = Ether(src=src_mac, dst=dst_mac) / IP(src=src_ip, dst=dst_ip, ttl=64) / UDP(sport=sport, dport=dport) / Raw(payload)
    return bytes(frame)


def parse_frame(frame: bytes):
    """(eth dst, eth src, ip src, ip dst, sport, dport, udp payload) or None if not IPv4/UDP."""
    if len(frame) < 14:
        return None
    dst, src, ethertype = frame[0:6], frame[6:12], struct.unpack("!H", frame[12:14])[0]
    if ethertype != ETH_P_IP:
        return None
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4:
        return None
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    if ip[9] != 17 or len(ip) < ihl + 8:
        return None
    udp = ip[ihl:total] if total >= ihl + 8 else ip[ihl:]
    sport, dport, ulen = struct.unpack("!HHH", udp[:6])
    payload = udp[8:ulen] if 8 <= ulen <= len(udp) else udp[8:]
    return (
        wire.colon_hex(dst),
        wire.colon_hex(src),
        wire.ip_str(ip[12:16]),
        wire.ip_str(ip[16:20]),
        sport,
        dport,
        payload,
    )


class Link:
    """A packet socket on one interface: sends frames and reads BOOTP messages on ports 67/68."""

    def __init__(self, iface: str):
        self.iface = iface
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((iface, 0))

    def send(self, frame: bytes):
        self.sock.send(frame)

    def receive(self, deadline: float, want, limit: int | None):
        """BOOTP messages for which want(decoded) is true, until the deadline or until
        `limit` of them (None: no limit) arrived."""
        out = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out
            self.sock.settimeout(remaining)
            try:
                frame, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                return out
            if addr[2] == PACKET_OUTGOING:
                continue
            parsed = parse_frame(frame)
            if parsed is None:
                continue
            eth_dst, eth_src, ip_src, ip_dst, sport, dport, payload = parsed
            if sport not in (67, 68) or dport not in (67, 68):
                continue
            meta = {
                "eth_src": eth_src,
                "eth_dst": eth_dst,
                "ip_src": ip_src,
                "ip_dst": ip_dst,
                "sport": sport,
                "dport": dport,
                "length": len(payload),
            }
            try:
                msg = wire.decode(payload)
            except wire.DecodeError as e:
                msg = {"op": payload[0] if payload else None, "undecodable": str(e), "raw": payload.hex()}
            msg.update(meta)
            if want(msg):
                out.append(msg)
                if limit is not None and len(out) >= limit:
                    return out


def client_options(args, msg_type: str, requested=None, server_id=None) -> list[tuple[int, bytes]]:
    opts = [(wire.OPT_MESSAGE_TYPE, bytes([wire.MESSAGE_CODES[msg_type]]))]
    if args.client_id:
        opts.append((wire.OPT_CLIENT_ID, wire.hex_bytes(args.client_id)))
    if requested:
        opts.append((wire.OPT_REQUESTED_ADDRESS, wire.ip_bytes(requested)))
    if server_id:
        opts.append((wire.OPT_SERVER_ID, wire.ip_bytes(server_id)))
    if args.hostname:
        opts.append((wire.OPT_HOSTNAME, args.hostname.encode()))
    if args.prl is not None and msg_type in ("discover", "request", "inform"):
        codes = [int(c) for c in args.prl.split(",") if c.strip()]
        opts.append((wire.OPT_PRL, bytes(codes)))
    for spec in args.option:
        code, _, value = spec.partition(":")
        opts.append((int(code), wire.hex_bytes(value)))
    # Option 82 goes last, as a relay agent appends it (RFC 3046 section 2.1).
    if args.option82:
        opts.append((wire.OPT_RELAY_AGENT, wire.hex_bytes(args.option82)))
    return opts


class Exchange:
    def __init__(self, args):
        self.args = args
        self.mac = args.mac
        self.link = Link(args.iface)
        self.xid = args.xid if args.xid is not None else random.getrandbits(32)
        self.keep = []
        if args.relay:
            src = args.src_ip or args.giaddr
            if not src:
                sys.exit("--relay needs --giaddr or --src-ip")
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((src, 67))
            self.relay_sock = s
        else:
            self.relay_sock = None
            # Replies unicast to this namespace's addresses reach port 68: a bound socket keeps
            # the kernel from answering them with ICMP port unreachable.
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", 68))
                self.keep.append(s)
            except OSError:
                pass

    def message(self, msg_type, *, ciaddr="0.0.0.0", requested=None, server_id=None) -> bytes:
        a = self.args
        flags = wire.BROADCAST_FLAG if a.broadcast else 0
        return wire.encode(
            xid=self.xid,
            chaddr=wire.mac_bytes(self.mac),
            flags=flags,
            hops=a.hops,
            ciaddr=ciaddr,
            giaddr=a.giaddr or "0.0.0.0",
            secs=a.secs,
            options=client_options(a, msg_type, requested, server_id),
        )

    def send_payload(self, payload: bytes, *, src_ip="0.0.0.0", unicast_to=None):
        a = self.args
        if self.relay_sock is not None:
            self.relay_sock.sendto(payload, (a.dst_ip or a.server, 67))
            return
        dst_ip = a.dst_ip or unicast_to or "255.255.255.255"
        dst_mac = a.dst_mac if dst_ip != "255.255.255.255" else BROADCAST_MAC
        if dst_mac is None:
            sys.exit(f"sending to {dst_ip} needs --dst-mac")
        frame = build_frame(
            src_mac=self.mac,
            dst_mac=dst_mac,
            src_ip=a.src_ip or src_ip,
            dst_ip=dst_ip,
            sport=a.sport or 68,
            dport=67,
            payload=payload,
        )
        self.link.send(frame)

    def wait(self, timeout=None, any_xid=False):
        a = self.args
        my_chaddr = self.mac.lower()

        def want(m):
            if m.get("op") != wire.BOOTREPLY:
                return False
            if any_xid:
                return True
            return m.get("xid") == self.xid and m.get("chaddr") == my_chaddr

        deadline = time.monotonic() + (a.timeout if timeout is None else timeout)
        return self.link.receive(deadline, want, limit=None if a.all else 1)


def result(replies):
    return {"reply": replies[0] if replies else None, "replies": replies}


def cmd_discover(ex: Exchange, a):
    ex.send_payload(ex.message("discover", requested=a.requested))
    return result(ex.wait())


def cmd_request(ex: Exchange, a):
    ciaddr = a.ciaddr or "0.0.0.0"
    unicast = a.server_id if a.unicast else None
    ex.send_payload(
        ex.message("request", ciaddr=ciaddr, requested=a.requested, server_id=a.server_id),
        src_ip=ciaddr,
        unicast_to=unicast,
    )
    return result(ex.wait())


def cmd_dora(ex: Exchange, a):
    ex.send_payload(ex.message("discover", requested=a.requested))
    offers = ex.wait()
    out = {"offer": offers[0] if offers else None, "offers": offers, "ack": None, "acks": []}
    offer = out["offer"]
    if offer is None or offer.get("message_type") != "offer":
        return out
    ex.send_payload(ex.message("request", requested=offer["yiaddr"], server_id=offer["server_id"]))
    acks = ex.wait()
    out["ack"] = acks[0] if acks else None
    out["acks"] = acks
    return out


def cmd_discover_pair(ex: Exchange, a):
    """A DISCOVER and, as soon as its OFFER arrives, a second client's DISCOVER (the next MAC,
    a new xid): both OFFERs and the milliseconds between their arrivals."""
    ex.send_payload(ex.message("discover"))
    first = ex.wait()
    first_at = time.monotonic()
    last = int(ex.mac.replace(":", "")[-2:], 16)
    ex.mac = ex.mac[:-2] + f"{(last + 1) & 0xFF:02x}"
    ex.xid = random.getrandbits(32)
    ex.send_payload(ex.message("discover"))
    second = ex.wait()
    return {
        "first": first[0] if first else None,
        "second": second[0] if second else None,
        "gap_ms": (time.monotonic() - first_at) * 1000,
    }


def cmd_release(ex: Exchange, a):
    # RFC 2131 4.4.6: unicast to the server, ciaddr set, no reply expected.
    ex.send_payload(
        ex.message("release", ciaddr=a.ciaddr, server_id=a.server_id),
        src_ip=a.ciaddr,
        unicast_to=a.server_id,
    )
    return result(ex.wait())


def cmd_decline(ex: Exchange, a):
    # RFC 2131 4.4.1: broadcast, ciaddr zero, requested address and server id set.
    ex.send_payload(ex.message("decline", requested=a.requested, server_id=a.server_id))
    return result(ex.wait())


def cmd_inform(ex: Exchange, a):
    unicast = a.server_id if a.unicast else None
    ex.send_payload(ex.message("inform", ciaddr=a.ciaddr), src_ip=a.ciaddr, unicast_to=unicast)
    return result(ex.wait())


def cmd_raw(ex: Exchange, a):
    ex.send_payload(wire.hex_bytes(a.payload), src_ip=a.src_ip or "0.0.0.0")
    return result(ex.wait(any_xid=True))


def cmd_capture(a):
    """Print BOOTREQUESTs received on the interface (harness self-test: run in the server
    namespace with no server running). Prints {"ready": true} first, once listening."""
    link = Link(a.iface)
    print(json.dumps({"ready": True}), flush=True)
    deadline = time.monotonic() + a.timeout
    got = link.receive(deadline, lambda m: m.get("op") == wire.BOOTREQUEST, limit=a.count)
    return {"requests": got}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iface", required=True)
    p.add_argument("--mac", default="02:00:00:00:00:01", help="chaddr and Ethernet source")
    p.add_argument("--client-id", help="option 61 payload as hex, type byte included")
    p.add_argument("--hostname", help="option 12 sent by the client")
    p.add_argument("--broadcast", action="store_true", help="set the BROADCAST flag")
    p.add_argument("--prl", help="option 55: comma-separated codes")
    p.add_argument("--option", action="append", default=[], metavar="CODE:HEX", help="extra option (repeatable)")
    p.add_argument("--xid", type=lambda s: int(s, 0))
    p.add_argument("--secs", type=int, default=0)
    p.add_argument("--hops", type=int, default=0)
    p.add_argument("--giaddr", help="relay agent address field")
    p.add_argument("--option82", help="relay agent information (option 82) payload as hex")
    p.add_argument("--relay", action="store_true", help="send as a relay: UDP from --src-ip/--giaddr:67 to --server:67")
    p.add_argument("--server", default="100.64.0.1", help="server address for --relay")
    p.add_argument("--src-ip", help="IP source address (default 0.0.0.0, or ciaddr)")
    p.add_argument("--dst-ip", help="IP destination (default 255.255.255.255)")
    p.add_argument("--dst-mac", help="Ethernet destination for a unicast IP destination")
    p.add_argument("--sport", type=int, help="UDP source port (default 68)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each reply")
    p.add_argument("--all", action="store_true", help="collect every reply until the timeout")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("discover")
    s.set_defaults(func=cmd_discover)
    s.add_argument("--requested")
    s = sub.add_parser("request")
    s.set_defaults(func=cmd_request)
    s.add_argument("--requested")
    s.add_argument("--server-id")
    s.add_argument("--ciaddr")
    s.add_argument("--unicast", action="store_true", help="send to --server-id (needs --dst-mac)")
    s = sub.add_parser("dora")
    s.set_defaults(func=cmd_dora)
    s.add_argument("--requested")
    s = sub.add_parser("discover-pair", help="two clients' DISCOVERs, the second sent on the first's OFFER")
    s.set_defaults(func=cmd_discover_pair)
    s = sub.add_parser("release")
    s.set_defaults(func=cmd_release)
    s.add_argument("--ciaddr", required=True)
    s.add_argument("--server-id", required=True)
    s = sub.add_parser("decline")
    s.set_defaults(func=cmd_decline)
    s.add_argument("--requested", required=True)
    s.add_argument("--server-id", required=True)
    s = sub.add_parser("inform")
    s.set_defaults(func=cmd_inform)
    s.add_argument("--ciaddr", required=True)
    s.add_argument("--server-id")
    s.add_argument("--unicast", action="store_true")
    s = sub.add_parser("raw", aliases=["raw-bytes"], help="send a UDP payload as is (malformed packets)")
    s.set_defaults(func=cmd_raw)
    s.add_argument("--payload", required=True, help="UDP payload as hex")
    s = sub.add_parser("capture")
    s.add_argument("--count", type=int, default=1)

    a = p.parse_args(argv)
    if a.cmd == "capture":
        out = cmd_capture(a)
    else:
        ex = Exchange(a)
        out = a.func(ex, a)
        out["xid"] = ex.xid
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
