"""DHCPv4 message encoding and decoding (RFC 2131, RFC 2132), standard library only.

Used by the client script that runs inside a test namespace (dhcp4_client.py) and by the
tests themselves, which build malformed messages from the same pieces. Decoding is written
independently of the daemon's codec so the tests check it rather than mirror it.

    0                   1                   2                   3
    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
   +---------------+---------------+---------------+---------------+
   |     op (1)    |   htype (1)   |   hlen (1)    |   hops (1)    |
   +---------------+---------------+---------------+---------------+
   |                            xid (4)                            |
   +-------------------------------+-------------------------------+
   |           secs (2)            |           flags (2)           |
   +-------------------------------+-------------------------------+
   |  ciaddr (4) | yiaddr (4) | siaddr (4) | giaddr (4)             |
   |  chaddr (16) | sname (64) | file (128)                         |
   |  magic cookie 99.130.83.99 | options (variable)              |
"""

from __future__ import annotations

import ipaddress
import struct

MAGIC_COOKIE = bytes([99, 130, 83, 99])
FIXED_LEN = 236  # BOOTP header up to, not including, the magic cookie
BOOTREQUEST = 1
BOOTREPLY = 2
BROADCAST_FLAG = 0x8000

# Option codes used by the tests (RFC 2132 unless noted).
OPT_PAD = 0
OPT_SUBNET_MASK = 1
OPT_ROUTER = 3
OPT_DNS = 6
OPT_HOSTNAME = 12
OPT_DOMAIN_NAME = 15
OPT_NTP = 42
OPT_REQUESTED_ADDRESS = 50
OPT_LEASE_TIME = 51
OPT_OVERLOAD = 52
OPT_MESSAGE_TYPE = 53
OPT_SERVER_ID = 54
OPT_PRL = 55
OPT_MESSAGE = 56
OPT_MAX_SIZE = 57
OPT_RENEWAL_TIME = 58
OPT_REBINDING_TIME = 59
OPT_CLIENT_ID = 61
OPT_RELAY_AGENT = 82  # RFC 3046
OPT_DOMAIN_SEARCH = 119  # RFC 3397
OPT_END = 255

MESSAGE_TYPES = {
    1: "discover",
    2: "offer",
    3: "request",
    4: "decline",
    5: "ack",
    6: "nak",
    7: "release",
    8: "inform",
}
MESSAGE_CODES = {name: code for code, name in MESSAGE_TYPES.items()}


class DecodeError(ValueError):
    """The bytes are not a well-formed BOOTP/DHCP message."""


def mac_bytes(mac: str) -> bytes:
    """'02:00:00:00:00:01' -> 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def hex_bytes(text: str) -> bytes:
    """'01:02:03', '010203' or '01 02 03' -> bytes."""
    return bytes.fromhex(text.replace(":", "").replace(" ", "").replace("-", ""))


def colon_hex(raw: bytes) -> str:
    """bytes -> '01:02:03' (lower case), the format of the Kea lease file."""
    return ":".join(f"{b:02x}" for b in raw)


def ip_bytes(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def ip_str(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def encode_options(options: list[tuple[int, bytes]], end: bool = True) -> bytes:
    """Options as TLVs in the given order; values longer than 255 bytes are split (RFC 3396)."""
    out = bytearray()
    for code, value in options:
        if len(value) == 0:
            out += bytes([code, 0])
        for i in range(0, len(value), 255):
            chunk = value[i : i + 255]
            out += bytes([code, len(chunk)]) + chunk
    if end:
        out.append(OPT_END)
    return bytes(out)


def encode(
    *,
    op: int = BOOTREQUEST,
    xid: int,
    chaddr: bytes,
    options: list[tuple[int, bytes]] = (),
    htype: int = 1,
    hlen: int = 6,
    hops: int = 0,
    secs: int = 0,
    flags: int = 0,
    ciaddr: str = "0.0.0.0",
    yiaddr: str = "0.0.0.0",
    siaddr: str = "0.0.0.0",
    giaddr: str = "0.0.0.0",
    sname: bytes = b"",
    file: bytes = b"",
    end: bool = True,
    min_len: int = 300,
) -> bytes:
    """A complete BOOTP/DHCP message, padded with zero (pad option) bytes to min_len as
    RFC 1542 section 3.4 recommends for clients."""
    head = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        op,
        htype,
        hlen,
        hops,
        xid,
        secs,
        flags,
        ip_bytes(ciaddr),
        ip_bytes(yiaddr),
        ip_bytes(siaddr),
        ip_bytes(giaddr),
        chaddr.ljust(16, b"\0"),
        sname.ljust(64, b"\0"),
        file.ljust(128, b"\0"),
    )
    msg = head + MAGIC_COOKIE + encode_options(list(options), end=end)
    if len(msg) < min_len:
        msg += b"\0" * (min_len - len(msg))
    return msg


def parse_options(data: bytes) -> tuple[list[int], dict[int, bytes], bool]:
    """(codes in order of first appearance, code -> value with repeated codes concatenated
    per RFC 3396, whether an end option was seen). Raises DecodeError on an option whose
    length runs past the end of the data."""
    order: list[int] = []
    values: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        code = data[i]
        if code == OPT_PAD:
            i += 1
            continue
        if code == OPT_END:
            return order, values, True
        if i + 1 >= len(data):
            raise DecodeError(f"option {code} at offset {i} has no length byte")
        length = data[i + 1]
        if i + 2 + length > len(data):
            raise DecodeError(f"option {code} at offset {i} runs past the end")
        if code not in values:
            order.append(code)
            values[code] = b""
        values[code] += data[i + 2 : i + 2 + length]
        i += 2 + length
    return order, values, False


def decode(data: bytes) -> dict:
    """Decode a BOOTP/DHCP message into a JSON-able dict: the fixed fields, every option as
    hex by code, and the options the tests look at in typed form."""
    if len(data) < FIXED_LEN + 4:
        raise DecodeError(f"message is {len(data)} bytes, shorter than the BOOTP header")
    (op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr, giaddr, chaddr, sname, file) = (
        struct.unpack("!BBBBIHH4s4s4s4s16s64s128s", data[:FIXED_LEN])
    )
    if data[FIXED_LEN : FIXED_LEN + 4] != MAGIC_COOKIE:
        raise DecodeError("bad magic cookie")
    order, values, saw_end = parse_options(data[FIXED_LEN + 4 :])
    # Option overload (52): options continue in file and/or sname.
    overload = values.get(OPT_OVERLOAD, b"\0")[:1]
    if overload and overload[0] in (1, 3):
        o2, v2, _ = parse_options(file)
        _merge(order, values, o2, v2)
    if overload and overload[0] in (2, 3):
        o3, v3, _ = parse_options(sname)
        _merge(order, values, o3, v3)
    msg = {
        "op": op,
        "htype": htype,
        "hlen": hlen,
        "hops": hops,
        "xid": xid,
        "secs": secs,
        "flags": flags,
        "ciaddr": ip_str(ciaddr),
        "yiaddr": ip_str(yiaddr),
        "siaddr": ip_str(siaddr),
        "giaddr": ip_str(giaddr),
        "chaddr": colon_hex(chaddr[: min(hlen, 16)]),
        "sname": sname.rstrip(b"\0").decode("latin-1"),
        "file": file.rstrip(b"\0").decode("latin-1"),
        "end_option": saw_end,
        "option_order": order,
        "options": {str(code): values[code].hex() for code in order},
    }
    msg.update(typed_options(values))
    return msg


def _merge(order, values, o2, v2):
    for code in o2:
        if code not in values:
            order.append(code)
            values[code] = b""
        values[code] += v2[code]


def _u32(v: bytes):
    return struct.unpack("!I", v)[0] if len(v) == 4 else None


def _ips(v: bytes):
    if len(v) % 4:
        return None
    return [ip_str(v[i : i + 4]) for i in range(0, len(v), 4)]


def _ip(v: bytes):
    return ip_str(v) if len(v) == 4 else None


def decode_dns_names(data: bytes) -> list[str]:
    """RFC 1035 names as used by option 119 (RFC 3397), with compression pointers."""
    names = []
    i = 0
    while i < len(data):
        labels = []
        j = i
        jumped = False
        end_of_name = None
        hops = 0
        while True:
            if j >= len(data):
                raise DecodeError("domain name runs past the option")
            length = data[j]
            if length == 0:
                if not jumped:
                    end_of_name = j + 1
                break
            if length & 0xC0 == 0xC0:
                if j + 1 >= len(data):
                    raise DecodeError("truncated compression pointer")
                if not jumped:
                    end_of_name = j + 2
                j = ((length & 0x3F) << 8) | data[j + 1]
                jumped = True
                hops += 1
                if hops > 64:
                    raise DecodeError("compression loop")
                continue
            labels.append(data[j + 1 : j + 1 + length].decode("ascii", "replace"))
            j += 1 + length
        names.append(".".join(labels))
        i = end_of_name
    return names


def encode_dns_names(names: list[str]) -> bytes:
    """Names in RFC 1035 wire format, without compression."""
    out = bytearray()
    for name in names:
        for label in name.rstrip(".").split("."):
            out += bytes([len(label)]) + label.encode("ascii")
        out.append(0)
    return bytes(out)


def typed_options(values: dict[int, bytes]) -> dict:
    def get(code, conv):
        return conv(values[code]) if code in values else None

    mt = values.get(OPT_MESSAGE_TYPE)
    typed = {
        "message_type": MESSAGE_TYPES.get(mt[0], f"unknown-{mt[0]}") if mt and len(mt) == 1 else None,
        "server_id": get(OPT_SERVER_ID, _ip),
        "lease_time": get(OPT_LEASE_TIME, _u32),
        "renewal_time": get(OPT_RENEWAL_TIME, _u32),
        "rebinding_time": get(OPT_REBINDING_TIME, _u32),
        "subnet_mask": get(OPT_SUBNET_MASK, _ip),
        "router": get(OPT_ROUTER, _ips),
        "dns_server": get(OPT_DNS, _ips),
        "ntp_server": get(OPT_NTP, _ips),
        "domain_name": get(OPT_DOMAIN_NAME, lambda v: v.rstrip(b"\0").decode("latin-1")),
        "hostname": get(OPT_HOSTNAME, lambda v: v.rstrip(b"\0").decode("latin-1")),
        "message": get(OPT_MESSAGE, lambda v: v.decode("latin-1")),
        "client_id": get(OPT_CLIENT_ID, colon_hex),
        "option82": get(OPT_RELAY_AGENT, bytes.hex),
        "option119": get(OPT_DOMAIN_SEARCH, bytes.hex),
        "domain_search": None,
    }
    if OPT_DOMAIN_SEARCH in values:
        try:
            typed["domain_search"] = decode_dns_names(values[OPT_DOMAIN_SEARCH])
        except DecodeError as e:
            typed["domain_search"] = f"undecodable: {e}"
    return typed
