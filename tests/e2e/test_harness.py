"""Checks of the test harness itself, independent of netdhcpd: namespaces come up and go
away, the client sends exactly the packets the tests mean, the readiness protocol works."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import dhcp4_wire as wire
from client import Dhcp4Client, capture_requests
from daemon import Daemon, DaemonError
from netns import NetnsError, Topology


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_topology_up_and_torn_down():
    t = Topology()
    names = {t.server.name, t.client.name}
    try:
        assert names <= _netns_names()
        assert t.server.addresses(t.server_if) == ["100.64.0.1/10"]
        assert t.client.addresses(t.client_if) == [], "a DHCP client end starts with no address"
        for ns, iface in ((t.server, t.server_if), (t.client, t.client_if), (t.server, "lo")):
            flags = ns.ip("-j", "link", "show", "dev", iface).stdout
            assert '"UP"' in flags, f"{ns.name}/{iface} not up: {flags}"
        # Nothing leads out of the namespaces.
        assert "default" not in t.client.ip("route").stdout
        assert "default" not in t.server.ip("route").stdout
        with pytest.raises(NetnsError):
            t.client_add_address("192.0.2.1/24")
    finally:
        t.destroy()
    assert not (names & _netns_names())


def test_topology_kills_its_processes_by_pid():
    t = Topology()
    try:
        p = t.server.popen("sleep", "600")
        assert p.poll() is None
    finally:
        t.destroy()
    assert p.returncode is not None


def test_relay_topology_forwards():
    t = Topology(relay=True)
    try:
        assert t.relay.addresses(t.relay_server_if) == ["100.64.0.2/10"]
        # The server reaches the relay's client-side address through the relay's server leg.
        p = t.server.run("ping", "-c", "1", "-W", "2", t.relay_client_ip, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        t.destroy()


def test_client_discover_on_the_wire(topo):
    proc, collect = capture_requests(topo.server, topo.server_if, count=1)
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    out = c.run(
        "discover",
        mac="02:00:00:01:00:07",
        client_id="01:02:00:00:01:00:07",
        prl=[1, 3, 6, 42],
        xid=0x1234ABCD,
        timeout=0.2,
        broadcast=True,
    )
    assert out["reply"] is None
    (req,) = collect()
    assert req.op == 1 and req.xid == 0x1234ABCD and req.chaddr == "02:00:00:01:00:07"
    assert req.flags == wire.BROADCAST_FLAG
    assert req.message_type == "discover"
    assert req.client_id == "01:02:00:00:01:00:07"
    assert req.opt(wire.OPT_PRL) == bytes([1, 3, 6, 42])
    assert req.end_option and req.length >= 300
    assert (req.eth_src, req.eth_dst) == ("02:00:00:01:00:07", "ff:ff:ff:ff:ff:ff")
    assert (req.ip_src, req.ip_dst, req.sport, req.dport) == ("0.0.0.0", "255.255.255.255", 68, 67)


def test_client_unicast_request_on_the_wire(topo):
    topo.client_add_address("100.64.1.3/10")
    proc, collect = capture_requests(topo.server, topo.server_if, count=1)
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    c.request(ciaddr="100.64.1.3", unicast=True, server_id="100.64.0.1", timeout=0.2)
    (req,) = collect()
    assert req.message_type == "request" and req.ciaddr == "100.64.1.3"
    assert not req.has(wire.OPT_REQUESTED_ADDRESS)
    assert req.eth_dst == topo.server_mac
    assert (req.ip_src, req.ip_dst) == ("100.64.1.3", "100.64.0.1")


def test_client_as_relay_on_the_wire(topo):
    topo.client_add_address("100.64.0.2/10")
    proc, collect = capture_requests(topo.server, topo.server_if, count=1)
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac)
    c.discover(giaddr="100.64.0.2", relay=True, option82=bytes.fromhex("0104000000010204aabbccdd"), timeout=0.2)
    (req,) = collect()
    assert req.giaddr == "100.64.0.2"
    assert (req.ip_src, req.ip_dst, req.sport, req.dport) == ("100.64.0.2", "100.64.0.1", 67, 67)
    assert req.option_order[-1] == wire.OPT_RELAY_AGENT
    assert req.option82 == "0104000000010204aabbccdd"


def test_wire_roundtrip():
    msg = wire.encode(
        xid=7,
        chaddr=wire.mac_bytes("02:00:00:00:00:01"),
        options=[(53, b"\x01"), (119, wire.encode_dns_names(["example.net", "a.example.net"]))],
    )
    d = wire.decode(msg)
    assert d["message_type"] == "discover"
    assert d["domain_search"] == ["example.net", "a.example.net"]
    # Compression pointer back to offset 0.
    assert wire.decode_dns_names(b"\x07example\x03net\x00\x01a\xc0\x00") == ["example.net", "a.example.net"]
    with pytest.raises(wire.DecodeError):
        wire.decode(msg[:200])
    with pytest.raises(wire.DecodeError):
        wire.parse_options(bytes([53, 5, 1]))


FAKE_DAEMON = textwrap.dedent(
    """\
    import os, socket, sys, time, signal
    mode = os.environ.get("FAKE_MODE", "ready")
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    print("fake daemon", sys.argv[1:], flush=True)
    if mode == "exit":
        print("fatal: bad config", flush=True)
        sys.exit(3)
    if mode == "ready":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.sendto(b"STATUS=loading\\nREADY=1", os.environ["NOTIFY_SOCKET"])
    time.sleep(600)
    """
)


@pytest.mark.parametrize("mode", ["ready", "exit", "silent"])
def test_daemon_readiness_protocol(topo, tmp_path, monkeypatch, mode):
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE_DAEMON)
    wrapper = tmp_path / "fake-netdhcpd"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {fake} \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("FAKE_MODE", mode)
    d = Daemon(topo.server, tmp_path / "d", "<server/>", binary=wrapper)
    try:
        if mode == "ready":
            d.start(timeout=10)
            assert d.running()
            assert d.stop() == 0
            d.start(timeout=10)  # restart reuses the notify socket
            d.kill9()
            assert not d.running()
        else:
            with pytest.raises(DaemonError) as e:
                d.start(timeout=2)
            assert "fake daemon" in str(e.value), "the failure shows the log tail"
            assert not d.running()
    finally:
        d.close()
    assert (tmp_path / "d" / "config.xml").read_text() == "<server/>"
