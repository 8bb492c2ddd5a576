"""DHCPv4 protocol behaviour of netdhcpd (RFC 2131, RFC 2132, RFC 3046, RFC 3397), seen on
the wire from a client namespace, plus the lease file it leaves (ISC Kea 2.2 memfile).

Most tests run against the standard configuration (configs.standard_config):

    subnet 1  100.64.0.0/10   router 100.64.0.1   pool 100.64.1.0 - 100.64.1.9
              reservation 100.64.0.50 for 02:00:00:00:00:50, hostname reserved-host
              option 42 (NTP servers) 100.64.0.1
    global    valid-lifetime 4000, renew-timer 1000, rebind-timer 2000,
              dns-server 100.64.0.1, domain-name and domain-search example.net
"""

from __future__ import annotations

import time

import pytest

import dhcp4_wire as wire
from client import Dhcp4Client, mac
from configs import (
    POOL,
    RESERVED_HOSTNAME,
    RESERVED_IP,
    RESERVED_MAC,
    server_xml,
    standard_config,
    standard_dhcp4,
    standard_subnet,
)
from daemon import LEASE4_HEADER

SERVER = "100.64.0.1"
MASK_10 = "255.192.0.0"
# Parameter request list of a typical client; 42 deliberately left out.
PRL = [1, 3, 6, 12, 15, 51, 54, 58, 59, 119]
NO_REPLY_WAIT = 1.5  # seconds to listen when no reply is the expected outcome


@pytest.fixture
def std(start_daemon, topo):
    """netdhcpd on the standard configuration, ready."""
    return start_daemon(standard_config(topo.server_if))


# ---------- helpers ----------


def assert_reply_header(m, client_mac: str, kind: str):
    assert m is not None, f"no {kind.upper()}"
    assert m.message_type == kind, f"expected {kind.upper()}, got {m.brief()}"
    assert m.op == wire.BOOTREPLY
    assert (m.htype, m.hlen) == (1, 6)
    assert m.chaddr == client_mac, "chaddr is copied from the request"
    assert m.server_id == SERVER, "option 54 is the receiving interface's address"
    assert m.ip_src == SERVER and m.sport == 67


def assert_standard_lease_options(m):
    assert m.lease_time == 4000
    assert m.renewal_time == 1000
    assert m.rebinding_time == 2000
    assert m.subnet_mask == MASK_10
    assert m.router == [SERVER]
    assert m.dns_server == [SERVER]
    assert m.domain_name == "example.net"
    assert m.domain_search == ["example.net"], f"option 119 is {m.option119}"
    assert m.option119 == wire.encode_dns_names(["example.net"]).hex()


def assert_to_client(m, client_mac: str):
    """Reply to a client with no address, giaddr 0, BROADCAST flag clear (RFC 2131 4.1):
    unicast to chaddr and yiaddr, or, where the server cannot unicast, IP broadcast."""
    assert m.dport == 68
    if m.ip_dst == "255.255.255.255":
        assert m.eth_dst == "ff:ff:ff:ff:ff:ff"
    else:
        assert m.ip_dst == m.yiaddr, f"unicast reply must go to yiaddr, went to {m.ip_dst}"
        assert m.eth_dst == client_mac, "unicast reply must go to chaddr"


def assert_no_reply(m, what: str):
    assert m is None, f"expected no reply to {what}, got {m.brief()}"


def lease_all(client: Dhcp4Client, macs, **kw) -> dict[str, str]:
    """Full DORA for each MAC; {mac: address}."""
    return {m: client.lease(mac=m, **kw).yiaddr for m in macs}


def wait_for_row(daemon, address: str, pred, timeout: float = 5.0) -> dict:
    """Bounded poll of the lease file until the last row for address satisfies pred (for
    messages that get no reply, such as RELEASE and DECLINE)."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = daemon.last_lease_row(address)
        if row is not None and pred(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"lease file: last row for {address} is {row}, still not as expected after {timeout}s")


# ---------- DISCOVER / OFFER ----------


def test_discover_gets_offer_with_configured_options(std, client):
    m = mac(1)
    offer = client.discover(mac=m, prl=PRL, xid=0x11223344)
    assert_reply_header(offer, m, "offer")
    assert offer.xid == 0x11223344
    assert offer.yiaddr in POOL
    assert offer.ciaddr == "0.0.0.0" and offer.giaddr == "0.0.0.0"
    assert offer.flags == 0
    assert_standard_lease_options(offer)
    assert not offer.has(wire.OPT_NTP), "option 42 is sent only when asked for (not always-send)"
    assert not offer.has(wire.OPT_RELAY_AGENT)
    assert_to_client(offer, m)


def test_option_42_sent_when_in_parameter_request_list(std, client):
    offer = client.discover(mac=mac(1), prl=PRL + [42])
    assert_reply_header(offer, mac(1), "offer")
    assert offer.ntp_server == [SERVER]


def test_option_always_send_without_request(start_daemon, topo, client):
    subnet = standard_subnet(option=[{"code": 42, "format": "ipv4-address-list", "value": "100.64.0.1", "always-send": True}])
    start_daemon(standard_config(topo.server_if, subnet=subnet))
    offer = client.discover(mac=mac(1), prl=[1, 3])
    assert_reply_header(offer, mac(1), "offer")
    assert offer.ntp_server == [SERVER]
    _, ack = client.dora(mac=mac(1), prl=[1, 3])
    assert ack.message_type == "ack" and ack.ntp_server == [SERVER]


def test_broadcast_flag_gets_broadcast_replies(std, client):
    offer, ack = client.dora(mac=mac(1), prl=PRL, broadcast=True)
    for m, kind in ((offer, "offer"), (ack, "ack")):
        assert_reply_header(m, mac(1), kind)
        assert m.flags & wire.BROADCAST_FLAG, "flags are copied from the request"
        # RFC 2131 4.1: BROADCAST set -> IP broadcast. (Kea sends it to chaddr at the link
        # layer, which the client receives as well.)
        assert (m.ip_dst, m.dport) == ("255.255.255.255", 68)
        assert m.eth_dst in ("ff:ff:ff:ff:ff:ff", mac(1))


# ---------- REQUEST ----------


def test_request_selecting_gets_ack(std, client):
    m = mac(1)
    offer, ack = client.dora(mac=m, prl=PRL)
    assert_reply_header(offer, m, "offer")
    assert_reply_header(ack, m, "ack")
    assert ack.xid == offer.xid
    assert ack.yiaddr == offer.yiaddr
    assert_standard_lease_options(ack)
    assert_to_client(ack, m)


def test_same_hw_address_gets_same_address(std, client):
    m = mac(1)
    first = client.discover(mac=m)
    again = client.discover(mac=m)
    assert first is not None and again is not None
    assert again.yiaddr == first.yiaddr, "an outstanding offer is held for its client"
    ack = client.lease(mac=m)
    assert ack.yiaddr == first.yiaddr
    offer = client.discover(mac=m)
    assert offer.yiaddr == ack.yiaddr, "a client with a lease is offered its address"
    assert client.lease(mac=m).yiaddr == ack.yiaddr


def test_same_client_id_gets_same_address_from_another_nic(std, client):
    cid = "01:02:00:00:01:00:aa"
    ack1 = client.lease(mac=mac(1), client_id=cid)
    other = client.lease(mac=mac(2))
    assert other.yiaddr != ack1.yiaddr
    # The client identifier, not chaddr, names the client (RFC 2131 section 4.2).
    offer = client.discover(mac=mac(3), client_id=cid)
    assert offer is not None and offer.yiaddr == ack1.yiaddr
    ack2 = client.lease(mac=mac(3), client_id=cid)
    assert ack2.yiaddr == ack1.yiaddr


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_same_address_after_restart(std, client, how):
    m = mac(1)
    ack = client.lease(mac=m)
    other = client.lease(mac=mac(2))
    if how == "sigterm":
        assert std.stop() == 0, "SIGTERM is a graceful shutdown: exit status 0"
    else:
        std.kill9()
    std.start()
    offer = client.discover(mac=m)
    assert offer is not None and offer.yiaddr == ack.yiaddr, "the lease survives the restart"
    assert client.lease(mac=m).yiaddr == ack.yiaddr
    assert client.lease(mac=mac(2)).yiaddr == other.yiaddr


def test_init_reboot_request_for_own_address_gets_ack(std, client):
    m = mac(1)
    addr = client.lease(mac=m).yiaddr
    # INIT-REBOOT (RFC 2131 4.3.2): requested address set, no server id, ciaddr 0.
    ack = client.request(mac=m, requested=addr, prl=PRL)
    assert_reply_header(ack, m, "ack")
    assert ack.yiaddr == addr
    assert_standard_lease_options(ack)
    assert_to_client(ack, m)


def test_request_for_another_clients_address_gets_nak(std, client):
    addr = client.lease(mac=mac(1)).yiaddr
    for kind, kw in (("init-reboot", {}), ("selecting", {"server_id": SERVER})):
        nak = client.request(mac=mac(2), requested=addr, **kw)
        assert nak is not None, f"no reply to {kind} REQUEST for another client's address"
        assert nak.message_type == "nak", f"{kind}: expected NAK, got {nak.brief()}"
        assert nak.server_id == SERVER
        assert nak.yiaddr == "0.0.0.0"
        assert not nak.has(wire.OPT_LEASE_TIME)
        # RFC 2131 4.3.2: with giaddr 0 a NAK is broadcast.
        assert (nak.ip_dst, nak.dport) == ("255.255.255.255", 68)
    # The owner keeps it.
    assert client.lease(mac=mac(1)).yiaddr == addr


def test_request_for_address_outside_the_subnet_gets_nak(start_daemon, topo, client):
    subnet = standard_subnet(prefix="100.64.0.0/16")
    start_daemon(standard_config(topo.server_if, subnet=subnet))
    # 100.100.0.10 is on no subnet of this server (the client moved from another network).
    nak = client.request(mac=mac(1), requested="100.100.0.10")
    assert nak is not None and nak.message_type == "nak", f"got {nak and nak.brief()}"
    assert nak.server_id == SERVER and nak.yiaddr == "0.0.0.0"
    ack = client.lease(mac=mac(1))
    assert ack.yiaddr in POOL and ack.subnet_mask == "255.255.0.0"


def test_request_naming_another_server_gets_no_reply(std, client):
    m = mac(1)
    offer = client.discover(mac=m)
    assert offer is not None
    # SELECTING with another server's identifier: the client chose that server's offer.
    reply = client.request(mac=m, requested=offer.yiaddr, server_id="100.64.0.99", timeout=NO_REPLY_WAIT)
    assert_no_reply(reply, "a REQUEST naming another server")


def test_renewing_request_unicast_from_ciaddr(std, topo, client):
    m = mac(1)
    addr = client.lease(mac=m).yiaddr
    topo.client_add_address(f"{addr}/10")
    # RENEWING (RFC 2131 4.3.2): ciaddr set, no requested address, no server id, unicast.
    ack = client.request(mac=m, ciaddr=addr, unicast=True, prl=PRL)
    assert_reply_header(ack, m, "ack")
    assert ack.yiaddr == addr
    assert ack.lease_time == 4000 and ack.renewal_time == 1000 and ack.rebinding_time == 2000
    # RFC 2131 4.1: ciaddr set -> unicast to ciaddr.
    assert (ack.ip_dst, ack.dport) == (addr, 68)
    assert ack.eth_dst == m


def test_rebinding_request_broadcast_from_ciaddr(std, topo, client):
    m = mac(1)
    addr = client.lease(mac=m).yiaddr
    topo.client_add_address(f"{addr}/10")
    # REBINDING: like RENEWING but broadcast.
    ack = client.request(mac=m, ciaddr=addr, src_ip=addr, prl=PRL)
    assert_reply_header(ack, m, "ack")
    assert ack.yiaddr == addr
    assert ack.lease_time == 4000
    assert (ack.ip_dst, ack.dport) == (addr, 68)


# ---------- RELEASE / DECLINE / INFORM ----------


def test_release_frees_the_address(std, client):
    leased = lease_all(client, [mac(i) for i in range(1, 11)])
    assert sorted(leased.values()) == sorted(POOL)
    assert_no_reply(client.discover(mac=mac(11), timeout=NO_REPLY_WAIT), "DISCOVER with the pool full")
    addr = leased[mac(3)]
    reply = client.release(mac=mac(3), ciaddr=addr, server_id=SERVER, timeout=NO_REPLY_WAIT)
    assert_no_reply(reply, "RELEASE")
    row = wait_for_row(std, addr, lambda r: r["valid_lifetime"] == "0")
    assert row["valid_lifetime"] == "0"
    offer = client.discover(mac=mac(11))
    assert offer is not None, "the released address is free again"
    assert offer.yiaddr == addr


def test_decline_keeps_address_out_of_use(start_daemon, topo, client):
    daemon = start_daemon(standard_config(topo.server_if, decline_probation_period=3600))
    declined = client.lease(mac=mac(1)).yiaddr
    reply = client.decline(mac=mac(1), requested=declined, server_id=SERVER, timeout=NO_REPLY_WAIT)
    assert_no_reply(reply, "DECLINE")
    # Kea memfile: state 1 is declined.
    wait_for_row(daemon, declined, lambda r: r["state"] == "1")
    others = lease_all(client, [mac(i) for i in range(2, 11)])
    assert declined not in others.values()
    assert sorted(others.values()) == sorted(a for a in POOL if a != declined)
    # The pool is full but for the declined address: nobody gets it, not even by asking.
    assert_no_reply(client.discover(mac=mac(11), requested=declined, timeout=NO_REPLY_WAIT), "DISCOVER")
    assert_no_reply(client.discover(mac=mac(1), timeout=NO_REPLY_WAIT), "DISCOVER from the decliner")


def test_declined_address_returns_after_probation(start_daemon, topo, client):
    start_daemon(standard_config(topo.server_if, decline_probation_period=6, reclaim_interval=1))
    leased = lease_all(client, [mac(i) for i in range(1, 11)])
    declined = leased[mac(1)]
    assert_no_reply(client.decline(mac=mac(1), requested=declined, server_id=SERVER), "DECLINE")
    t_decline = time.monotonic()
    first = client.discover(mac=mac(11), timeout=1.0)
    if time.monotonic() - t_decline < 5:
        assert_no_reply(first, "DISCOVER during the probation period")
    deadline = t_decline + 30
    offer = None
    while time.monotonic() < deadline:
        offer = client.discover(mac=mac(11), timeout=1.0)
        if offer is not None:
            break
    assert offer is not None, "the declined address never came back after its 6 s probation"
    assert offer.yiaddr == declined
    assert time.monotonic() - t_decline >= 5, "the declined address came back before its probation ended"


def test_inform_gets_options_without_lease(std, topo, client):
    static = "100.64.0.77"
    topo.client_add_address(f"{static}/10")
    ack = client.inform(mac=mac(1), ciaddr=static, server_id=SERVER, unicast=True, prl=PRL + [42])
    assert_reply_header(ack, mac(1), "ack")
    assert ack.yiaddr == "0.0.0.0"
    for code in (wire.OPT_LEASE_TIME, wire.OPT_RENEWAL_TIME, wire.OPT_REBINDING_TIME):
        assert not ack.has(code), f"DHCPACK to DHCPINFORM must not carry option {code} (RFC 2131 4.3.5)"
    assert ack.subnet_mask == MASK_10
    assert ack.router == [SERVER] and ack.dns_server == [SERVER]
    assert ack.domain_name == "example.net"
    assert ack.ntp_server == [SERVER]
    assert (ack.ip_dst, ack.dport) == (static, 68), "the ACK goes to ciaddr"
    assert std.last_lease_row(static) is None, "INFORM creates no lease"


# ---------- reservations and pool ----------


def test_reservation_by_hw_address(std, client):
    offer, ack = client.dora(mac=RESERVED_MAC, prl=PRL)
    for m, kind in ((offer, "offer"), (ack, "ack")):
        assert_reply_header(m, RESERVED_MAC, kind)
        assert m.yiaddr == RESERVED_IP
        assert m.hostname == RESERVED_HOSTNAME
        assert m.lease_time == 4000
    row = std.last_lease_row(RESERVED_IP)
    assert row is not None and row["hwaddr"] == RESERVED_MAC


def test_reserved_address_never_given_to_another_client(std, client):
    offer = client.discover(mac=mac(1), requested=RESERVED_IP)
    assert offer is not None and offer.yiaddr != RESERVED_IP and offer.yiaddr in POOL
    nak = client.request(mac=mac(1), requested=RESERVED_IP)
    assert nak is not None and nak.message_type == "nak", f"got {nak and nak.brief()}"
    leased = lease_all(client, [mac(i) for i in range(1, 11)], requested=RESERVED_IP)
    assert RESERVED_IP not in leased.values()
    assert_no_reply(client.discover(mac=mac(11), requested=RESERVED_IP, timeout=NO_REPLY_WAIT), "DISCOVER")
    # Its owner still gets it.
    assert client.lease(mac=RESERVED_MAC).yiaddr == RESERVED_IP


def test_pool_exhaustion(std, client):
    leased = lease_all(client, [mac(i) for i in range(1, 11)])
    assert len(set(leased.values())) == 10, "every client has its own address"
    assert set(leased.values()) == set(POOL)
    assert_no_reply(client.discover(mac=mac(11), timeout=NO_REPLY_WAIT), "the 11th DISCOVER")
    # Clients with leases still renew.
    assert client.lease(mac=mac(5)).yiaddr == leased[mac(5)]


# ---------- relays ----------

OPT82 = bytes.fromhex("0106" + "657468302f31" + "0206" + "020000000099")  # circuit-id "eth0/1", remote-id


def test_relayed_discover_reply_to_giaddr_with_option82(std, topo):
    relay_ip = "100.64.0.2"
    topo.client_add_address(f"{relay_ip}/10")
    relay = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    m = mac(1)
    offer, ack = relay.dora(mac=m, giaddr=relay_ip, relay=True, option82=OPT82, prl=PRL)
    for r, kind in ((offer, "offer"), (ack, "ack")):
        assert_reply_header(r, m, kind)
        assert r.giaddr == relay_ip
        assert r.yiaddr in POOL
        # RFC 2131 4.1: a relayed request is answered to giaddr, port 67.
        assert (r.ip_dst, r.dport) == (relay_ip, 67)
        # RFC 3046 2.2: the server echoes the relay agent information option.
        assert r.option82 == OPT82.hex()
    assert ack.yiaddr == offer.yiaddr


def test_relay_address_selects_subnet(start_daemon, topo):
    subnets = [
        standard_subnet(prefix="100.64.0.0/16", reservation=[], option=[]),
        {
            "id": 2,
            "prefix": "100.96.0.0/16",
            "router": "100.96.0.1",
            "relay-address": "100.80.0.1",
            "pool": [{"start": "100.96.1.0", "end": "100.96.1.9"}],
        },
        {
            "id": 3,
            "prefix": "100.112.0.0/16",
            "router": "100.112.0.1",
            "pool": [{"start": "100.112.1.0", "end": "100.112.1.9"}],
        },
    ]
    daemon = start_daemon(standard_config(topo.server_if, subnets=subnets))
    topo.client_add_address("100.64.0.2/10")
    topo.client_add_address("100.80.0.1/32")
    topo.client_add_address("100.112.0.1/32")
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    cases = [
        # (giaddr, subnet id, pool prefix, router)
        ("100.80.0.1", "2", "100.96.1.", "100.96.0.1"),  # listed as relay-address
        ("100.112.0.1", "3", "100.112.1.", "100.112.0.1"),  # inside the subnet
    ]
    for i, (giaddr, subnet_id, pool_prefix, router) in enumerate(cases):
        m = mac(20 + i)
        offer, ack = c.dora(mac=m, giaddr=giaddr, relay=True, prl=PRL)
        for r, kind in ((offer, "offer"), (ack, "ack")):
            assert_reply_header(r, m, kind)
            assert r.yiaddr.startswith(pool_prefix), f"giaddr {giaddr}: {kind} {r.yiaddr} not from subnet {subnet_id}"
            assert r.subnet_mask == "255.255.0.0"
            assert r.router == [router]
            assert (r.ip_dst, r.dport) == (giaddr, 67)
        assert daemon.last_lease_row(ack.yiaddr)["subnet_id"] == subnet_id
    # A client on the server's own link still gets subnet 1.
    direct = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac).lease(mac=mac(30))
    assert direct.yiaddr in POOL
    assert daemon.last_lease_row(direct.yiaddr)["subnet_id"] == "1"


# ---------- malformed packets ----------


def _discover(xid=0xBAD0001, options=None, **kw) -> bytes:
    opts = options if options is not None else [(53, b"\x01"), (55, bytes(PRL))]
    return wire.encode(xid=xid, chaddr=wire.mac_bytes(mac(99)), options=opts, **kw)


def _head() -> bytes:
    return _discover(options=[], end=False, min_len=0)[: wire.FIXED_LEN]


# name -> (UDP payload, whether the server must stay silent)
MALFORMED = {
    "empty": (b"", True),
    "truncated_header": (_discover()[:120], True),
    "truncated_before_cookie": (_discover()[: wire.FIXED_LEN + 2], True),
    "bad_magic_cookie": (_head() + bytes([99, 130, 83, 100]) + wire.encode_options([(53, b"\x01")]), True),
    "option_length_past_end": (_head() + wire.MAGIC_COOKIE + bytes([53, 1, 1, 61, 200]) + b"\x01" * 10, True),
    "missing_message_type": (_discover(options=[(61, b"\x01\x02\x00\x00\x01\x00\x99"), (55, bytes(PRL))]), True),
    "message_type_zero_length": (_discover(options=[(53, b"")]), True),
    "unknown_message_type": (_discover(options=[(53, b"\x63")]), True),
    "reply_op_from_client": (_discover(op=wire.BOOTREPLY), True),
    "hlen_too_large": (_discover(hlen=200), False),
    "no_end_option": (_head() + wire.MAGIC_COOKIE + bytes([53, 1, 1, 55, 2, 1, 3]), False),
    "garbage_after_end": (_discover(min_len=0) + bytes(range(1, 200)), False),
    "garbage_options": (_head() + wire.MAGIC_COOKIE + bytes([53, 1, 1]) + b"\xde\xad\xbe\xef" * 16, True),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_packet_then_service_continues(std, client, name):
    payload, silent = MALFORMED[name]
    replies = client.raw(payload, mac=mac(99), timeout=NO_REPLY_WAIT)
    if silent:
        assert replies == [], f"{name}: expected no reply, got {[r.brief() for r in replies]}"
    std.assert_running()
    ack = client.lease(mac=mac(1), prl=PRL)
    assert ack.yiaddr in POOL
    assert_standard_lease_options(ack)
    std.assert_running()


# ---------- lease file ----------


def test_lease_file_row_in_kea_format(std, client):
    cid = "01:02:00:00:01:00:01"
    t0 = int(time.time())
    ack = client.lease(mac=mac(1), client_id=cid)
    t1 = int(time.time()) + 1
    # An ACK leaves only once its lease is in the file: no waiting here.
    assert std.lease_file().exists()
    first_line = std.lease_file().read_text().splitlines()[0]
    assert first_line == ",".join(LEASE4_HEADER)
    row = std.last_lease_row(ack.yiaddr)
    assert row is not None, f"no row for {ack.yiaddr} in {std.lease_file()}"
    assert row["hwaddr"] == mac(1)
    assert row["client_id"] == cid
    assert row["valid_lifetime"] == "4000"
    assert t0 + 4000 <= int(row["expire"]) <= t1 + 4000
    assert row["subnet_id"] == "1"
    assert row["state"] == "0"
    assert row["fqdn_fwd"] in ("0", "false") and row["fqdn_rev"] in ("0", "false")
    assert None not in row, "no row has more columns than the header"
