"""A raw NETCONF-over-SSH client for the benchmarks (paramiko, base:1.0 end-of-message
framing, no ncclient in the timed path), and the daemon settings it needs.

Host keys are checked: the daemon's key (ssh-keygen -y of its key file) must be the one the
SSH handshake presents.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import time
from pathlib import Path

import paramiko

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
ND_NS = "urn:netdhcp:yang:netdhcp-server"
EOM = b"]]>]]>"
HOST, PORT = "127.0.0.1", 830
USER = "bench"
PASSWORD = "bench-Secret-1"
CLIENT_HELLO = (
    f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{BASE_NS}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>"
).encode() + EOM

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def enter_netns(name: str):
    """Moves this (main) thread into network namespace `name`: every socket made afterwards
    lives there; child processes inherit it."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def client_key(work: Path) -> tuple[Path, str]:
    """An ed25519 key pair for public-key login: (private key file, authorized_keys line)."""
    key = work / "bench_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    return key, (work / "bench_ed25519.pub").read_text().strip()


def settings_toml(netdhcpd: Path, pubkey: str, port: int = PORT) -> str:
    """Start-up settings: NETCONF on 127.0.0.1:PORT, one user with both a password (argon2
    hash from `netdhcpd hash-password`) and an authorized key."""
    p = subprocess.run([str(netdhcpd), "hash-password"], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not p.stdout.startswith("$argon2"):
        raise RuntimeError(f"netdhcpd hash-password failed: {p.stderr}")
    return (
        f'[netconf]\nlisten = "{HOST}:{port}"\nmax_sessions = 64\n\n'
        f'[[user]]\nname = "{USER}"\npassword_hash = "{p.stdout.strip()}"\nauthorized_keys = ["{pubkey}"]\n'
    )


def host_key_of(state_dir: Path) -> bytes:
    p = subprocess.run(["ssh-keygen", "-y", "-f", str(state_dir / "ssh_host_ed25519_key")],
                       capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    import base64

    return base64.b64decode(p.stdout.split()[1])


class Session:
    """One NETCONF session: the constructor does TCP + SSH (host key checked) + auth + the
    netconf subsystem + the <hello> exchange. `nodelay` sets TCP_NODELAY on the client's socket:
    without it the client's small handshake writes wait for the server's delayed ACK (40 ms)."""

    def __init__(self, host_key: bytes, key_file: Path | None = None, password: str | None = None,
                 port: int = PORT, timeout: float = 120, nodelay: bool = True):  # fmt: skip
        self.buf = b""
        self.msg_id = 0
        # Loaded before the clock starts: reading the key file is the client's business.
        pkey = paramiko.Ed25519Key.from_private_key_file(str(key_file)) if key_file is not None else None
        t0 = time.perf_counter()
        sock = socket.create_connection((HOST, port), timeout=timeout)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t1 = time.perf_counter()
        self.t = paramiko.Transport(sock)
        self.t.start_client(timeout=timeout)
        if self.t.get_remote_server_key().asbytes() != host_key:
            self.t.close()
            raise RuntimeError("NETCONF server's host key is not the daemon's key file")
        t2 = time.perf_counter()
        if pkey is not None:
            self.t.auth_publickey(USER, pkey)
        else:
            self.t.auth_password(USER, password or PASSWORD)
        t3 = time.perf_counter()
        self.chan = self.t.open_session(timeout=timeout)
        self.chan.settimeout(timeout)
        self.chan.invoke_subsystem("netconf")
        t4 = time.perf_counter()
        self.chan.sendall(CLIENT_HELLO)
        self.server_hello = self._recv()
        t5 = time.perf_counter()
        #: Milliseconds of each phase of the set-up.
        self.phases = {"tcp": (t1 - t0) * 1e3, "ssh_kex": (t2 - t1) * 1e3, "auth": (t3 - t2) * 1e3,
                       "channel": (t4 - t3) * 1e3, "hello": (t5 - t4) * 1e3, "total": (t5 - t0) * 1e3}  # fmt: skip

    def _recv(self) -> bytes:
        while True:
            i = self.buf.find(EOM)
            if i >= 0:
                msg, self.buf = self.buf[:i], self.buf[i + len(EOM):]
                return msg
            data = self.chan.recv(1 << 20)
            if not data:
                raise RuntimeError("NETCONF session closed by the server")
            self.buf += data

    def rpc(self, body: str) -> bytes:
        """Sends <rpc> with `body` inside, returns the <rpc-reply> text."""
        self.msg_id += 1
        msg = f'<rpc xmlns="{BASE_NS}" message-id="{self.msg_id}">{body}</rpc>'.encode() + EOM
        self.chan.sendall(msg)
        return self._recv()

    def ok(self, body: str) -> bytes:
        r = self.rpc(body)
        if b"<ok/>" not in r and b":ok/>" not in r:
            raise RuntimeError(f"expected <ok/>, got: {r[:2000].decode(errors='replace')}")
        return r

    def edit_commit(self, config_xml: str) -> float:
        """edit-config of the candidate, then commit; seconds from the first byte sent to the
        commit's <ok/>."""
        t0 = time.perf_counter()
        self.ok(f'<edit-config><target><candidate/></target><config>{config_xml}</config></edit-config>')
        self.ok("<commit/>")
        return time.perf_counter() - t0

    def close(self):
        try:
            self.rpc("<close-session/>")
        except Exception:
            pass
        self.t.close()


def openssh_setup_ms(key_file: Path, known_hosts: Path, port: int = PORT, timeout: float = 30) -> float:
    """Session set-up with OpenSSH's client (C, no Python crypto on the client side): exec of
    `ssh -s ... netconf` with the public key, until the server's <hello> has arrived after
    ours. Includes the exec of ssh itself (about a millisecond)."""
    cmd = ["ssh", "-F", "/dev/null", "-q", "-p", str(port), "-i", str(key_file), "-o", "IdentitiesOnly=yes",
           "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
           "-o", "PasswordAuthentication=no", "-s", f"{USER}@{HOST}", "netconf"]  # fmt: skip
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(CLIENT_HELLO)
        p.stdin.flush()
        buf = b""
        deadline = time.monotonic() + timeout
        while EOM not in buf:
            if time.monotonic() > deadline:
                raise RuntimeError("no <hello> from the server through ssh")
            chunk = os.read(p.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"ssh ended: {p.stderr.read().decode(errors='replace')}")
            buf += chunk
        elapsed = (time.perf_counter() - t0) * 1000
        p.stdin.write(b'<rpc xmlns="' + BASE_NS.encode() + b'" message-id="1"><close-session/></rpc>' + EOM)
        p.stdin.close()
        p.wait(timeout=timeout)
        return elapsed
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=5)
