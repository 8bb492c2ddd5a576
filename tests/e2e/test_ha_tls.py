"""Failover with TLS on the peer link: a hot-standby pair whose peer URLs are https on the peer
link (https://100.100.0.1:8001/, https://100.100.0.2:8001/), each server with a certificate of a
throwaway CA made here with the openssl command line, and optionally HTTP basic authentication on
top.

Certificates (in the test's tmp_path): a CA; per server a certificate with subjectAltName
IP:<its peer address> (the client checks the URL's host) and extendedKeyUsage serverAuth and
clientAuth (the same certificate serves the listener and authenticates the server's own
commands); one for the harness (clientAuth), which reads the servers' heartbeats; and a second,
unrelated CA with a certificate that looks like a server's, for the refused client.

What is checked:
  - the pair reaches hot-standby over TLS and the 20 leases the primary grants are on both;
  - the listener speaks nothing but TLS: a plain-http POST gets no HTTP answer (at most a fatal
    TLS alert, then the connection is closed);
  - a client certificate from another CA, or none, is refused by the TLS handshake (TLS 1.2:
    the handshake itself fails; TLS 1.3: the server's alert arrives at the client's first read,
    and no HTTP answer ever does);
  - with basic-auth configured too, the pair still reaches hot-standby and replicates (the
    servers send their credentials), while a heartbeat without credentials, or with a wrong
    password, gets HTTP 401 with a Basic challenge.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import configs_ha as ch
from daemon import check_config
from ha import (
    Client,
    ClientTls,
    client_mac,
    dora_all,
    https_post,
    lease_view,
    start_tls_netdhcpd,
    view_diff,
    wait_pair,
)
from netconf_tools import _in_netns

HS = ch.HOT_STANDBY
S1_IP = ch.S1_LAN_IP
PAIR_UP = 40
HEARTBEAT = {"command": "ha-heartbeat", "service": ["dhcp4"]}
AUTH = ("ha-peer", "correct horse battery staple")


# ---------------------------------------------------------------- a throwaway PKI


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"openssl {' '.join(args)}: {p.stderr}"
    return p


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


def make_ca(d: Path, name: str) -> Cert:
    """A self-signed CA (P-256, two days)."""
    cnf = d / f"{name}.cnf"
    cnf.write_text(
        "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = v3ca\n"
        f"[dn]\nCN = netdhcpd e2e {name}\n"
        "[v3ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    c = Cert(d / f"{name}.pem", d / f"{name}.key")
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(c.key), "-out", str(c.cert), "-days", "2", "-sha256", "-config", str(cnf), cwd=d)  # fmt: skip
    return c


def make_cert(d: Path, ca: Cert, name: str, serial: int, *, ip: str | None, eku: str) -> Cert:
    """An end-entity certificate signed by ca: CN name, subjectAltName IP:ip when given."""
    c = Cert(d / f"{name}.pem", d / f"{name}.key")
    csr = d / f"{name}.csr"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(c.key), cwd=d)
    openssl("req", "-new", "-key", str(c.key), "-subj", f"/CN={name}", "-out", str(csr), cwd=d)
    ext = d / f"{name}.ext"
    lines = ["[ext]", "basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
             f"extendedKeyUsage = {eku}", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]  # fmt: skip
    if ip is not None:
        lines.append(f"subjectAltName = IP:{ip}")
    ext.write_text("\n".join(lines) + "\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-set_serial", str(serial),
            "-days", "2", "-sha256", "-extfile", str(ext), "-extensions", "ext", "-out", str(c.cert), cwd=d)  # fmt: skip
    return c


@dataclass(frozen=True)
class Pki:
    ca: Cert
    s1: Cert
    s2: Cert
    harness: Cert  # the tests' own client certificate, same CA
    rogue_ca: Cert
    rogue: Cert  # looks like server1's, signed by rogue_ca

    def server_tls(self, which: int) -> dict:
        c = self.s1 if which == 1 else self.s2
        return ch.tls_leaves(self.ca.cert, c.cert, c.key)

    def client(self, **kw) -> ClientTls:
        """The harness's client: trusts the CA, presents its own certificate."""
        return ClientTls(self.ca.cert, self.harness.cert, self.harness.key, **kw)


@pytest.fixture
def pki(tmp_path) -> Pki:
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d, "ca")
    both = "serverAuth, clientAuth"
    s1 = make_cert(d, ca, "server1", 1, ip=ch.S1_PEER_IP, eku=both)
    s2 = make_cert(d, ca, "server2", 2, ip=ch.S2_PEER_IP, eku=both)
    harness = make_cert(d, ca, "harness", 3, ip=None, eku="clientAuth")
    rogue_ca = make_ca(d, "rogue-ca")
    rogue = make_cert(d, rogue_ca, "rogue", 1, ip=ch.S1_PEER_IP, eku=both)
    text = openssl("x509", "-in", str(s1.cert), "-noout", "-ext", "subjectAltName,extendedKeyUsage", cwd=d).stdout
    assert "IP Address:100.100.0.1" in text and "TLS Web Client Authentication" in text, text
    openssl("verify", "-CAfile", str(ca.cert), str(s1.cert), str(s2.cert), str(harness.cert), cwd=d)
    return Pki(ca, s1, s2, harness, rogue_ca, rogue)


def start_tls_pair(ha_servers, ha_topo, pki: Pki, auth: tuple[str, str] | None = None):
    basic = {"user": auth[0], "password": auth[1]} if auth else None
    x1, x2 = ch.tls_pair_xml(HS, ha_topo.s1_if, ha_topo.s2_if, pki.server_tls(1), pki.server_tls(2), basic_auth=basic)
    s1 = start_tls_netdhcpd(ha_servers, 1, x1, ch.S1_HTTPS_URL, pki.client(), auth)
    s2 = start_tls_netdhcpd(ha_servers, 2, x2, ch.S2_HTTPS_URL, pki.client(), auth)
    took = wait_pair(s1, s2, HS, timeout=PAIR_UP)
    print(f"TLS pair in hot-standby {took:.1f}s after both were ready")
    return s1, s2


def dora_20_and_compare(ha_topo, s1, s2, group: int, n: int = 20):
    """n clients, each answered only by the primary; both files then hold exactly those leases."""
    clients = [Client(client_mac(group, i)) for i in range(n)]
    got = dora_all(ha_topo.client, ha_topo.client_if, clients)
    bad = [ex.brief() for ex in got.values()
           if ex.offered_by() != [S1_IP] or ex.acked_by() != [S1_IP] or len(ex.replies) != 1]  # fmt: skip
    assert not bad, f"{len(bad)} of {n} clients not answered by the primary alone:\n" + "\n".join(bad)
    acked = {ex.ack["yiaddr"]: mac for mac, ex in got.items()}
    assert len(acked) == n, f"{n} distinct addresses, got {len(acked)}"
    v1, v2 = lease_view(s1.lease_rows()), lease_view(s2.lease_rows())
    assert v1 == v2, "the two lease files disagree: " + view_diff(v1, v2)
    assert {a: hw for a, (hw, _) in v1.items()} == acked, "the files hold exactly the ACKed leases"
    o1, o2 = s1.oper(), s2.oper()
    assert int(o1["updates-sent"]) >= n and int(o2["updates-received"]) >= n, (o1, o2)
    assert int(o1["updates-failed"]) == 0, o1


# ---------------------------------------------------------------- raw clients of the listener


def plain_http_exchange(ns, host: str, port: int, timeout: float = 5.0) -> tuple[bytes, str]:
    """A plain-http POST of ha-heartbeat to host:port from inside ns: (every byte the server
    sent back, how the exchange ended: "closed", "reset" or "timeout")."""
    body = b'{"command": "ha-heartbeat", "service": ["dhcp4"]}'
    req = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
           f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip

    def run():
        got = b""
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(req)
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return got, "closed"
                    got += chunk
            except ConnectionResetError:
                return got, "reset"
            except TimeoutError:
                return got, "timeout"

    return _in_netns(ns.name, run)


def tls_attempt(ns, host: str, port: int, ctx: ssl.SSLContext, timeout: float = 5.0) -> dict:
    """A TLS connection with ctx from inside ns, then a heartbeat POST over it. Returns where it
    failed: {"handshake": error or None, "version", "read": error or None, "answer": bytes}."""
    body = b'{"command": "ha-heartbeat", "service": ["dhcp4"]}'
    req = (f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
           f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body  # fmt: skip

    def run():
        out = {"handshake": None, "version": None, "read": None, "answer": b""}
        raw = socket.create_connection((host, port), timeout=timeout)
        try:
            try:
                s = ctx.wrap_socket(raw, server_hostname=host)
            except (ssl.SSLError, OSError) as e:
                out["handshake"] = e
                return out
            with s:
                out["version"] = s.version()
                try:
                    s.sendall(req)
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        out["answer"] += chunk
                except (ssl.SSLError, OSError) as e:
                    out["read"] = e
            return out
        finally:
            raw.close()

    return _in_netns(ns.name, run)


def client_ctx(ca: Path, cert: Cert | None, max_version: str | None = None) -> ssl.SSLContext:
    return ClientTls(ca, cert.cert if cert else None, cert.key if cert else None, max_version=max_version).context()


def assert_refused(r: dict, what: str, handshake_must_fail: bool):
    """The server refused the client at the TLS layer: an SSL error (an alert) at the handshake
    or, TLS 1.3, at the first read; never an HTTP answer."""
    assert not r["answer"].startswith(b"HTTP/"), f"{what}: the server answered over HTTP: {r['answer'][:200]!r}"
    if handshake_must_fail:
        assert isinstance(r["handshake"], ssl.SSLError), f"{what}: the TLS 1.2 handshake did not fail: {r}"
    else:
        err = r["handshake"] or r["read"]
        assert isinstance(err, (ssl.SSLError, ConnectionResetError)), f"{what}: not refused by TLS: {r}"


# ---------------------------------------------------------------- without a daemon


def test_tls_configurations_pass_check(tmp_path, pki):
    """Both servers' documents, with and without basic-auth, are valid."""
    for tag, basic in (("tls", None), ("tls-auth", {"user": AUTH[0], "password": AUTH[1]})):
        docs = ch.tls_pair_xml(HS, "lan1", "lan1", pki.server_tls(1), pki.server_tls(2), basic_auth=basic)
        for i, xml in enumerate(docs, start=1):
            p = tmp_path / f"{tag}-s{i}.xml"
            p.write_text(xml)
            r = check_config(p)
            assert r.returncode == 0 and "valid" in r.stdout, f"{p}: {r.stdout}{r.stderr}"
            assert "<ca-file>" in xml and "https://" in xml


# ---------------------------------------------------------------- TLS


def test_tls_pair_replicates_and_the_listener_refuses_what_is_not_trusted(ha_servers, ha_topo, pki):
    """Over TLS the pair reaches hot-standby and both lease files hold the primary's 20 leases.
    The listener (server1's, from inside its namespace) gives no HTTP answer to plain http,
    and refuses at the TLS layer a client whose certificate chains to another CA, and a client
    without a certificate; the harness's certificate of the right CA is answered."""
    s1, s2 = start_tls_pair(ha_servers, ha_topo, pki)
    assert s1.heartbeat()["scopes"] == [ch.S1_NAME] and s2.heartbeat()["scopes"] == []
    dora_20_and_compare(ha_topo, s1, s2, group=0x40)

    host, port = ch.S1_PEER_IP, ch.PEER_PORT
    got, how = plain_http_exchange(s1.ns, host, port)
    print(f"plain http to the https listener: {how}, {len(got)} bytes back: {got[:16]!r}")
    assert not got.startswith(b"HTTP/"), f"the TLS listener answered plain http: {got[:200]!r}"
    # What a TLS server may send a client that does not speak TLS: at most a fatal alert record
    # (content type 21, level 2), then it closes the connection rather than wait for more.
    assert got == b"" or (len(got) >= 7 and got[0] == 0x15 and got[5] == 2), f"not a TLS alert: {got[:200]!r}"
    assert how in ("closed", "reset"), f"the listener kept a plain-http connection open ({how})"

    ok = tls_attempt(s1.ns, host, port, client_ctx(pki.ca.cert, pki.harness))
    assert ok["handshake"] is None and ok["read"] is None, ok
    assert ok["answer"].startswith(b"HTTP/1.1 200"), ok
    print(f"the harness's own certificate: {ok['version']}, answered")

    for what, cert in (("a certificate of another CA", pki.rogue), ("no client certificate", None)):
        r12 = tls_attempt(s1.ns, host, port, client_ctx(pki.ca.cert, cert, max_version="TLSv1_2"))
        assert_refused(r12, f"{what}, TLS 1.2", handshake_must_fail=True)
        r13 = tls_attempt(s1.ns, host, port, client_ctx(pki.ca.cert, cert))
        assert_refused(r13, f"{what}, TLS 1.3", handshake_must_fail=False)
        print(f"{what}: TLS 1.2 {r12['handshake']!r}; {r13['version'] or 'TLS 1.3'}: "
              f"{r13['handshake'] or r13['read']!r}")  # fmt: skip
    # A client that trusts only the other CA does not accept server1's certificate either.
    r = tls_attempt(s1.ns, host, port, client_ctx(pki.rogue_ca.cert, pki.rogue))
    assert isinstance(r["handshake"], ssl.SSLCertVerificationError), r
    assert (s1.state(), s2.state()) == (HS, HS)


def test_tls_with_basic_auth_401_without_credentials(ha_servers, ha_topo, pki):
    """TLS plus basic-auth on both servers: the pair (sending its credentials) reaches
    hot-standby and replicates; over TLS with a trusted certificate, a heartbeat without an
    Authorization header, or with a wrong password, gets HTTP 401 with a Basic challenge
    (RFC 7235/7617), with the right one HTTP 200."""
    s1, s2 = start_tls_pair(ha_servers, ha_topo, pki, auth=AUTH)
    dora_20_and_compare(ha_topo, s1, s2, group=0x41)

    for s in (s1, s2):
        none = https_post(s.ns, s.url, HEARTBEAT, pki.client())
        assert none.status == 401, f"{s!r}: heartbeat without credentials: HTTP {none.status} {none.body[:200]!r}"
        challenge = none.headers.get("www-authenticate", "")
        assert challenge.lower().startswith("basic"), f"{s!r}: 401 without a Basic challenge: {none.headers}"
        wrong = https_post(s.ns, s.url, HEARTBEAT, pki.client(), auth=(AUTH[0], AUTH[1] + "x"))
        assert wrong.status == 401, f"{s!r}: wrong password: HTTP {wrong.status} {wrong.body[:200]!r}"
        right = https_post(s.ns, s.url, HEARTBEAT, pki.client(), auth=AUTH)
        assert right.status == 200, f"{s!r}: right credentials: HTTP {right.status} {right.body[:200]!r}"
        answer = right.json()
        answer = answer[0] if isinstance(answer, list) else answer
        assert answer["result"] == 0 and answer["arguments"]["state"] == HS, answer
    print(f"401 challenge: {challenge!r}")
    assert (s1.state(), s2.state()) == (HS, HS)
