"""Drives the netconf crate's SSH server with real clients (ncclient, and paramiko for the
cases ncclient cannot express: malformed XML, custom rpc attributes, auth retry on one
connection). Run by netconf/tests/ncclient.rs; one scenario per invocation.

Prints one JSON object (measurements) on its last stdout line; exits non-zero on failure.
Host keys are verified for real: every connection reads the known_hosts file named in the
ssh_config file the test wrote.
"""

import argparse
import base64
import json
import os
import socket
import sys
import threading
import time

import paramiko
from ncclient import manager
from ncclient.operations.rpc import RPCError
from ncclient.transport.errors import AuthenticationError, SSHUnknownHostError
from ncclient.xml_ import to_ele

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
TEST_CAP = "urn:example:netconf-test:capability:1.0"
TEST_NS = "urn:example:netconf-test"


def connect(args, user=None, password=None, key=None, timeout=30):
    return manager.connect(
        host=args.host,
        port=args.port,
        username=user or args.user,
        password=password,
        key_filename=key,
        hostkey_verify=True,
        ssh_config=args.ssh_config,
        allow_agent=False,
        look_for_keys=False,
        timeout=timeout,
    )


def wait_disconnected(m, limit):
    deadline = time.monotonic() + limit
    while m.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    return not m.connected


def known_host_key(args):
    """The host key as the known_hosts file has it, for the raw paramiko scenarios."""
    with open(args.known_hosts) as f:
        _, keytype, b64 = f.read().split()[:3]
    assert keytype == "ssh-ed25519", keytype
    return paramiko.Ed25519Key(data=base64.b64decode(b64))


def raw_transport(args):
    sock = socket.create_connection((args.host, args.port), timeout=10)
    t = paramiko.Transport(sock)
    t.start_client(timeout=10)
    server_key = t.get_remote_server_key()
    expected = known_host_key(args)
    assert server_key.asbytes() == expected.asbytes(), "host key does not match known_hosts"
    return t


class Raw:
    """A NETCONF session by hand over a paramiko channel."""

    def __init__(self, chan):
        self.chan = chan
        self.buf = b""

    def recv_eom(self):
        while b"]]>]]>" not in self.buf:
            data = self.chan.recv(65536)
            if not data:
                raise EOFError("closed")
            self.buf += data
        msg, self.buf = self.buf.split(b"]]>]]>", 1)
        return msg.decode()

    def recv_chunked(self):
        # Minimal RFC 6242 chunked decoder, enough for replies in one or more chunks.
        out = b""
        while True:
            while b"\n" not in self.buf[1:] or len(self.buf) < 4:
                data = self.chan.recv(65536)
                if not data:
                    raise EOFError("closed")
                self.buf += data
            assert self.buf.startswith(b"\n#"), self.buf[:20]
            header, rest = self.buf[2:].split(b"\n", 1)
            if header == b"#":
                self.buf = rest
                return out.decode()
            size = int(header)
            while len(rest) < size:
                data = self.chan.recv(65536)
                if not data:
                    raise EOFError("closed")
                rest += data
            out += rest[:size]
            self.buf = rest[size:]

    def send_chunked(self, text):
        data = text.encode()
        self.chan.sendall(b"\n#%d\n" % len(data) + data + b"\n##\n")

    def hello(self):
        server = self.recv_eom()
        assert "urn:ietf:params:netconf:base:1.1" in server, server
        self.chan.sendall(
            (
                '<?xml version="1.0" encoding="UTF-8"?><hello xmlns="%s"><capabilities>'
                "<capability>urn:ietf:params:netconf:base:1.1</capability>"
                "</capabilities></hello>]]>]]>" % BASE
            ).encode()
        )
        return server

    def closed(self, limit=5):
        self.chan.settimeout(limit)
        try:
            while True:
                data = self.chan.recv(65536)
                if not data:
                    return True
        except socket.timeout:
            return False


def scenario_hello(args):
    t0 = time.monotonic()
    m = connect(args, password=args.password)
    setup = time.monotonic() - t0
    caps = list(m.server_capabilities)
    assert "urn:ietf:params:netconf:base:1.0" in caps, caps
    assert "urn:ietf:params:netconf:base:1.1" in caps, caps
    assert TEST_CAP in caps, caps
    assert int(m.session_id) > 0, m.session_id
    # ncclient switched to chunked framing: both sides announced base:1.1.
    assert m._session._base == 2, "base:1.1 chunked framing not selected"
    # A large reply goes through chunked framing and several SSH packets.
    r = m.get_config(source="running")
    assert r.ok
    assert "fixed-value" in r.data_xml, r.data_xml
    big = m.get(filter=("subtree", '<big xmlns="%s"/>' % TEST_NS))
    assert len(big.data_xml) > 200000, len(big.data_xml)
    # ncclient matches replies to requests by message-id: an answer at all proves the echo;
    # check it is there literally too.
    assert 'message-id="urn:uuid:' in r.xml, r.xml[:200]
    m.edit_config(
        target="candidate",
        config='<config xmlns="%s"><top xmlns="%s" xmlns:t="%s"><name>edited</name></top></config>' % (BASE, TEST_NS, TEST_NS),
        default_operation="replace",
    )
    # xpath filter with the prefix declared on the rpc element, as netconf-console2 sends it.
    r = m.get_config(source="running", filter=("xpath", ({"t": TEST_NS}, "/t:top")))
    assert r.ok
    t1 = time.monotonic()
    r = m.get_config(source="running")
    rtt = time.monotonic() - t1
    m.close_session()
    assert wait_disconnected(m, 5)
    check_wrong_host_key_refused(args)
    return {"session_setup_s": round(setup, 4), "get_config_rtt_s": round(rtt, 4)}


def check_wrong_host_key_refused(args):
    """The verification is real: with another ed25519 key in known_hosts the client refuses."""
    other = paramiko.Ed25519Key.from_private_key_file(args.key)
    d = os.path.dirname(args.known_hosts)
    wrong_known = os.path.join(d, "known_hosts_wrong")
    with open(wrong_known, "w") as f:
        f.write("[%s]:%d ssh-ed25519 %s\n" % (args.host, args.port, other.get_base64()))
    wrong_config = os.path.join(d, "ssh_config_wrong")
    with open(wrong_config, "w") as f:
        f.write("Host *\n    UserKnownHostsFile %s\n" % wrong_known)
    wrong = argparse.Namespace(**{**vars(args), "ssh_config": wrong_config})
    try:
        connect(wrong, password=args.password)
        raise AssertionError("server accepted with a host key that is not in known_hosts")
    except SSHUnknownHostError:
        pass


def scenario_unknown_op(args):
    m = connect(args, password=args.password)
    try:
        m.dispatch(to_ele('<frobnicate xmlns="%s"/>' % BASE))
        raise AssertionError("unknown base operation accepted")
    except RPCError as e:
        assert e.tag == "operation-not-supported", e.tag
        assert e.type == "protocol", e.type
    # An operation of another namespace reaches the backend, which does not know it either.
    try:
        m.dispatch(to_ele('<reboot xmlns="urn:example:unknown"/>'))
        raise AssertionError("unknown operation accepted")
    except RPCError as e:
        assert e.tag == "operation-not-supported", e.tag
    # The session survives both.
    assert m.get_config(source="running").ok
    m.close_session()
    return {}


def scenario_raw(args):
    """Malformed XML, custom attributes echoed, exec refused, other subsystems refused."""
    t = raw_transport(args)
    t.auth_password(args.user, args.password)

    chan = t.open_session()
    try:
        chan.exec_command("ls")
        raise AssertionError("exec accepted")
    except paramiko.SSHException:
        pass

    chan = t.open_session()
    try:
        chan.invoke_subsystem("sftp")
        raise AssertionError("sftp subsystem accepted")
    except paramiko.SSHException:
        pass

    chan = t.open_session()
    chan.invoke_subsystem("netconf")
    s = Raw(chan)
    s.hello()
    s.send_chunked(
        '<rpc message-id="101" xmlns="%s" xmlns:ex="http://example.net/content/1.0" '
        'ex:user-id="fred"><get-config><source><running/></source></get-config></rpc>' % BASE
    )
    reply = s.recv_chunked()
    assert reply.startswith(
        '<rpc-reply xmlns="%s" xmlns:ex="http://example.net/content/1.0" message-id="101" ex:user-id="fred">' % BASE
    ), reply
    # Round trip without ncclient's 100 ms polling tick: the server's own latency.
    n = 50
    t0 = time.monotonic()
    for i in range(n):
        s.send_chunked('<rpc message-id="rtt-%d" xmlns="%s"><get-config><source><running/></source></get-config></rpc>' % (i, BASE))
        assert 'message-id="rtt-%d"' % i in s.recv_chunked()
    rtt = (time.monotonic() - t0) / n
    s.send_chunked('<rpc xmlns="%s" ex="1"><get/></rpc>' % BASE)
    reply = s.recv_chunked()
    assert "<error-tag>missing-attribute</error-tag>" in reply, reply
    assert "<bad-attribute>message-id</bad-attribute>" in reply and "<bad-element>rpc</bad-element>" in reply, reply
    s.send_chunked('<rpc message-id="2" xmlns="%s"><get></rpc>' % BASE)
    reply = s.recv_chunked()
    assert "<error-type>rpc</error-type><error-tag>malformed-message</error-tag>" in reply, reply
    assert s.closed(), "session not closed after malformed-message"
    t.close()
    return {"raw_get_config_rtt_ms": round(rtt * 1000, 2)}


def scenario_password(args):
    # Wrong password with ncclient: refused.
    try:
        connect(args, password="wrong-" + args.password)
        raise AssertionError("wrong password accepted")
    except AuthenticationError:
        pass
    # Retry on the same connection: a failure keeps the methods available.
    t = raw_transport(args)
    try:
        t.auth_password(args.user, "wrong")
        raise AssertionError("wrong password accepted")
    except paramiko.AuthenticationException:
        pass
    t.auth_password(args.user, args.password)
    assert t.is_authenticated()
    chan = t.open_session()
    chan.invoke_subsystem("netconf")
    s = Raw(chan)
    s.hello()
    s.send_chunked('<rpc message-id="1" xmlns="%s"><close-session/></rpc>' % BASE)
    assert "<ok/>" in s.recv_chunked()
    t.close()
    # And then the right password with ncclient.
    m = connect(args, password=args.password)
    m.close_session()
    return {}


def scenario_publickey(args):
    t0 = time.monotonic()
    m = connect(args, user=args.key_user, key=args.key)
    setup = time.monotonic() - t0
    assert m.get_config(source="running").ok
    m.close_session()
    # The key is not authorized for another user.
    try:
        connect(args, user=args.user, key=args.key)
        raise AssertionError("key accepted for a user it does not belong to")
    except AuthenticationError:
        pass
    return {"publickey_setup_s": round(setup, 4)}


def scenario_kill(args):
    m1 = connect(args, password=args.password)
    m2 = connect(args, user=args.key_user, key=args.key)
    lock = m2.lock(target="candidate")
    assert lock.ok
    t0 = time.monotonic()
    r = m1.kill_session(session_id=m2.session_id)
    assert r.ok
    assert wait_disconnected(m2, 5), "killed session still connected"
    gone = time.monotonic() - t0
    # The lock went with the killed session (the test backend tracks it).
    assert m1.lock(target="candidate").ok
    # Killing oneself is refused.
    try:
        m1.kill_session(session_id=m1.session_id)
        raise AssertionError("self kill accepted")
    except RPCError as e:
        assert e.tag == "invalid-value", e.tag
    m1.close_session()
    return {"kill_to_disconnect_s": round(gone, 4)}


def scenario_idle(args):
    m = connect(args, password=args.password)
    t0 = time.monotonic()
    assert wait_disconnected(m, 10), "idle session not closed"
    return {"idle_closed_after_s": round(time.monotonic() - t0, 3)}


def scenario_parallel(args):
    n = args.sessions
    results = [None] * n
    errors = []

    def one(i):
        try:
            t0 = time.monotonic()
            if i % 2 == 0:
                m = connect(args, password=args.password, timeout=60)
            else:
                m = connect(args, user=args.key_user, key=args.key, timeout=60)
            r = m.get_config(source="running")
            assert "fixed-value" in r.data_xml
            sid = int(m.session_id)
            m.close_session()
            results[i] = (sid, time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%d: %r" % (i, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    total = time.monotonic() - t0
    assert not errors, errors
    assert all(results), "some sessions did not finish"
    ids = [r[0] for r in results]
    assert len(set(ids)) == n, "session-ids not unique: %s" % ids
    per = sorted(r[1] for r in results)
    return {"sessions": n, "total_s": round(total, 3), "slowest_s": round(per[-1], 3), "median_s": round(per[n // 2], 3)}


def scenario_limit(args):
    m1 = connect(args, password=args.password)
    t0 = time.monotonic()
    try:
        connect(args, password=args.password)
        raise AssertionError("connection beyond the session limit accepted")
    except paramiko.ChannelException as e:
        # The session limit refuses the channel: "resource shortage".
        assert e.code == 4, e
        refused = repr(e)
    assert m1.get_config(source="running").ok, "first session disturbed"
    m1.close_session()
    assert wait_disconnected(m1, 5)
    # The slot is free again.
    deadline = time.monotonic() + 5
    while True:
        try:
            m3 = connect(args, password=args.password)
            break
        except Exception:  # noqa: BLE001 - the slot frees asynchronously
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    m3.close_session()
    return {"refusal": refused, "refused_in_s": round(time.monotonic() - t0, 3)}


SCENARIOS = {
    "hello": scenario_hello,
    "unknown_op": scenario_unknown_op,
    "raw": scenario_raw,
    "password": scenario_password,
    "publickey": scenario_publickey,
    "kill": scenario_kill,
    "idle": scenario_idle,
    "parallel": scenario_parallel,
    "limit": scenario_limit,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ssh-config", required=True)
    p.add_argument("--known-hosts", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--key-user", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--sessions", type=int, default=20)
    args = p.parse_args()
    result = SCENARIOS[args.scenario](args)
    print(json.dumps({"scenario": args.scenario, **result}))


if __name__ == "__main__":
    sys.exit(main())
