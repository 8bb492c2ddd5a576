"""NETCONF tools of the end-to-end tests: a daemon started with start-up settings (users,
NETCONF listen address), its SSH host key written to a known_hosts file, and the real clients
(ncclient, netconf-console2, Ansible) connecting to it from inside the server namespace with
that host key verified.

Every client connection lives in the test's server namespace and goes to 127.0.0.1 there:
  * ncclient runs in the pytest process; its TCP socket is made by a short-lived thread that
    entered the namespace with setns(2) (what `ip netns exec` does), then handed to ncclient
    (its `sock=` argument). Host key checking stays on: ncclient reads the known_hosts file
    named by UserKnownHostsFile in the ssh_config file written here.
  * netconf-console2 and ansible-playbook run under `ip netns exec NS`, with
    `--ssh-config FILE --hostkey-verify` and `ansible_netconf_ssh_config` +
    `ansible_host_key_checking=true` respectively: the same ssh_config and known_hosts.

Replies are read as XML (lxml) so the tests assert the protocol facts themselves: error-type,
error-tag, error-path, error-info, the data returned.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RaiseMode
from ncclient.xml_ import to_ele

from configs import NS as NDHCP_NS
from daemon import BINARY, Daemon

BASE_NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
MON_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"
YANGLIB_NS = "urn:ietf:params:xml:ns:yang:ietf-yang-library"
WD_NS = "urn:ietf:params:xml:ns:netconf:default:1.0"
NSMAP = {"nc": BASE_NS, "d": NDHCP_NS, "mon": MON_NS, "yl": YANGLIB_NS, "wd": WD_NS}

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
NETCONF_CONSOLE = VENV_BIN / "netconf-console2"
ANSIBLE_PLAYBOOK = VENV_BIN / "ansible-playbook"
YANG_FILE = REPO / "yang" / "modules" / "netdhcp" / "netdhcp-server@2026-11-27.yang"

PORT = 830
HOST = "127.0.0.1"
USER = "oper"
PASSWORD = "nc-test-Secret-1"

# ------------------------------------------------------------------ settings and the daemon


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """`netdhcpd hash-password`: the argon2 PHC string of a password read on stdin."""
    p = subprocess.run([str(BINARY), "hash-password"], input=password + "\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"netdhcpd hash-password exited {p.returncode}: {p.stderr}"
    h = p.stdout.strip()
    assert h.startswith("$argon2"), h
    return h


def settings_toml(*, port: int = PORT, running_persistent: bool | None = None, max_sessions: int | None = None,
                  idle_timeout: int | None = None, users: list[tuple[str, str]] | None = None) -> str:
    lines = ["[netconf]", f'listen = "{HOST}:{port}"']
    if max_sessions is not None:
        lines.append(f"max_sessions = {max_sessions}")
    if idle_timeout is not None:
        lines.append(f"idle_timeout_secs = {idle_timeout}")
    if running_persistent is not None:
        lines += ["", "[datastore]", f"running_persistent = {'true' if running_persistent else 'false'}"]
    for name, pw in users or [(USER, PASSWORD)]:
        lines += ["", "[[user]]", f'name = "{name}"', f'password_hash = "{password_hash(pw)}"']
    return "\n".join(lines) + "\n"


class NcDaemon(Daemon):
    """A Daemon whose restarts may leave out `--startup` (the harness's Daemon always seeds the
    startup datastore from config.xml): `start(seed=False)` is what an operator's restart is,
    loading DIR/startup.xml (or DIR/running.xml when running is persistent)."""

    def start(self, timeout: float = 30, seed: bool = True):
        if seed:
            return super().start(timeout)
        # Same as Daemon.start, without --startup: build the command by hand.
        if self.proc is not None and self.proc.poll() is None:
            raise AssertionError("daemon already running")
        self._drain_notify()
        self._ended_on_purpose = False
        env = dict(os.environ)
        env["NOTIFY_SOCKET"] = self.notify_path
        env.setdefault("RUST_LOG", os.environ.get("NETDHCP_TEST_LOG", "info"))
        env.setdefault("RUST_BACKTRACE", "1")
        env.setdefault("NO_COLOR", "1")
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts} (no --startup) at {time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            cmd = [str(self.binary), "run", "--state-dir", str(self.state_dir), *self.extra_args]
            self.proc = self.ns.popen(*cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready(timeout)
        return self

    def restart(self, timeout: float = 30, seed: bool = False):
        self.stop()
        return self.start(timeout, seed=seed)

    def logged_host_key(self) -> str | None:
        """The host key as the daemon logged it at start (host_key=...), last start."""
        keys = re.findall(r"host_key=\"?(ssh-ed25519 [A-Za-z0-9+/=]+)", self.log_path.read_text(errors="replace"))
        return keys[-1] if keys else None


def host_public_key(state_dir: Path) -> str:
    """`ssh-keygen -y` of the daemon's host key: 'ssh-ed25519 AAAA...'."""
    key = Path(state_dir) / "ssh_host_ed25519_key"
    p = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"ssh-keygen -y -f {key}: {p.stderr}"
    return " ".join(p.stdout.split()[:2])


# ------------------------------------------------------------------ namespaces

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def _in_netns(ns_name: str, fn):
    """Runs fn() in a new thread that first joins network namespace ns_name (setns(2) changes
    only the calling thread), and returns its result. Sockets made there stay in that
    namespace for their whole life."""
    out: dict = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
            finally:
                os.close(fd)
            out["value"] = fn()
        except BaseException as e:  # handed back to the caller
            out["error"] = e

    t = threading.Thread(target=body, name=f"netns-{ns_name}")
    t.start()
    t.join(60)
    if t.is_alive():
        raise TimeoutError(f"work in namespace {ns_name} did not finish in 60s")
    if "error" in out:
        raise out["error"]
    return out["value"]


def netns_socket(ns_name: str, host: str = HOST, port: int = PORT, timeout: float = 10):
    import socket

    return _in_netns(ns_name, lambda: socket.create_connection((host, port), timeout=timeout))


# ------------------------------------------------------------------ replies


@dataclass
class RpcErr:
    """One <rpc-error>, as the test reads it."""

    type: str | None
    tag: str | None
    severity: str | None
    path: str | None
    message: str | None
    app_tag: str | None
    info: dict[str, str]
    path_nsmap: dict[str, str]
    xml: str

    def __repr__(self):
        return self.xml


def _text(el, name):
    c = el.find(f"nc:{name}", NSMAP)
    return None if c is None else (c.text or "").strip()


def parse_errors(reply) -> list[RpcErr]:
    out = []
    for e in reply.findall("nc:rpc-error", NSMAP):
        info_el = e.find("nc:error-info", NSMAP)
        info = {}
        if info_el is not None:
            for c in info_el:
                info[etree.QName(c).localname] = (c.text or "").strip()
        path_el = e.find("nc:error-path", NSMAP)
        out.append(
            RpcErr(
                type=_text(e, "error-type"),
                tag=_text(e, "error-tag"),
                severity=_text(e, "error-severity"),
                path=_text(e, "error-path"),
                message=_text(e, "error-message"),
                app_tag=_text(e, "error-app-tag"),
                info=info,
                path_nsmap=dict(path_el.nsmap) if path_el is not None else {},
                xml=etree.tostring(e).decode(),
            )
        )
    return out


def resolve_path(err: RpcErr) -> str:
    """The error-path with its prefixes replaced by the namespaces they are bound to on the
    element ({ns}name), so a test can compare paths whatever prefix the server chose."""
    assert err.path is not None, f"no error-path in {err.xml}"

    def sub(m):
        prefix, name = m.group(1), m.group(2)
        ns = err.path_nsmap.get(prefix)
        assert ns is not None, f"error-path prefix {prefix!r} is not declared on <error-path>: {err.xml}"
        return "{" + ns + "}" + name

    return re.sub(r"([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)", sub, err.path)


def d_path(*steps: str) -> str:
    """A netdhcp-server path in resolve_path's form: d_path("server", "dhcpv4", "subnet[id='1']")
    gives /{ns}server/{ns}dhcpv4/{ns}subnet[{ns}id='1']."""
    ns = "{" + NDHCP_NS + "}"
    out = []
    for s in steps:
        m = re.match(r"([\w-]+)(.*)", s)
        name, preds = m.group(1), m.group(2)
        preds = re.sub(r"\[([\w-]+)=", lambda p: f"[{ns}{p.group(1)}=", preds)
        out.append(ns + name + preds)
    return "/" + "/".join(out)


class Reply:
    """An <rpc-reply>: .ok, .errors, .data (the <data> element), .root."""

    def __init__(self, xml: str | bytes):
        self.raw = xml if isinstance(xml, str) else xml.decode()
        self.root = etree.fromstring(self.raw.encode())
        assert etree.QName(self.root).localname == "rpc-reply", self.raw[:300]
        self.errors = parse_errors(self.root)
        self.ok = self.root.find("nc:ok", NSMAP) is not None

    @property
    def data(self):
        d = self.root.find("nc:data", NSMAP)
        assert d is not None, f"no <data> in {self.raw[:2000]}"
        return d

    @property
    def schema_text(self) -> str:
        """get-schema's answer: RFC 6022 puts the text in <data> of the monitoring namespace."""
        d = self.root.find("mon:data", NSMAP)
        assert d is not None, f"no monitoring <data> in {self.raw[:2000]}"
        return d.text or ""

    def xpath(self, expr: str):
        return self.root.xpath(expr, namespaces=NSMAP)

    def one_error(self) -> RpcErr:
        assert not self.ok, "expected an rpc-error, got <ok/>"
        assert len(self.errors) == 1, f"expected exactly one rpc-error, got {len(self.errors)}:\n{self.raw}"
        return self.errors[0]

    def assert_ok(self):
        assert self.ok and not self.errors, f"expected <ok/>, got:\n{self.raw}"
        return self


# ------------------------------------------------------------------ ncclient sessions


class Nc:
    """One ncclient session (NETCONF over SSH, host key verified) in the server namespace.
    Operations return Reply objects; rpc-errors do not raise."""

    def __init__(self, env: "NcEnv", user: str = USER, password: str = PASSWORD, timeout: float = 30):
        sock = netns_socket(env.ns.name, HOST, env.port)
        self.m = manager.connect(
            host=HOST,
            port=env.port,
            sock=sock,
            username=user,
            password=password,
            hostkey_verify=True,
            ssh_config=str(env.ssh_config),
            allow_agent=False,
            look_for_keys=False,
            timeout=timeout,
        )
        self.m.raise_mode = RaiseMode.NONE
        self.m.timeout = timeout

    @property
    def session_id(self) -> int:
        return int(self.m.session_id)

    @property
    def server_capabilities(self) -> list[str]:
        return list(self.m.server_capabilities)

    def close(self):
        if self.m.connected:
            try:
                self.m.close_session()
            except Exception:
                pass
        try:
            self.m._session.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def rpc(self, xml: str) -> Reply:
        """Sends an operation element (the child of <rpc>) as it is."""
        return Reply(self.m.dispatch(to_ele(xml)).xml)

    @staticmethod
    def _r(reply) -> Reply:
        return Reply(reply.xml)

    def get(self, filter=None, with_defaults=None) -> Reply:
        return self._r(self.m.get(filter=filter, with_defaults=with_defaults))

    def get_config(self, source="running", filter=None, with_defaults=None) -> Reply:
        return self._r(self.m.get_config(source, filter=filter, with_defaults=with_defaults))

    def edit(self, config_xml: str, target="candidate", default_operation=None, test_option=None, error_option=None) -> Reply:
        cfg = f'<config xmlns="{BASE_NS}">{config_xml}</config>'
        return self._r(
            self.m.edit_config(
                cfg, target=target, default_operation=default_operation, test_option=test_option, error_option=error_option
            )
        )

    def commit(self, confirmed=False, timeout=None, persist=None, persist_id=None) -> Reply:
        return self._r(self.m.commit(confirmed=confirmed, timeout=timeout, persist=persist, persist_id=persist_id))

    def cancel_commit(self, persist_id=None) -> Reply:
        return self._r(self.m.cancel_commit(persist_id=persist_id))

    def discard(self) -> Reply:
        return self._r(self.m.discard_changes())

    def validate(self, source="candidate") -> Reply:
        return self._r(self.m.validate(source=source))

    def lock(self, target="candidate") -> Reply:
        return self._r(self.m.lock(target))

    def unlock(self, target="candidate") -> Reply:
        return self._r(self.m.unlock(target))

    def copy_config(self, source, target) -> Reply:
        return self._r(self.m.copy_config(source, target))

    def delete_config(self, target) -> Reply:
        return self._r(self.m.delete_config(target))

    def kill_session(self, sid: int) -> Reply:
        return self._r(self.m.kill_session(str(sid)))

    def get_schema(self, identifier, version=None, format=None) -> Reply:
        return self._r(self.m.get_schema(identifier, version=version, format=format))

    # -- shortcuts

    def edit_commit(self, config_xml: str, **kw):
        self.edit(config_xml, **kw).assert_ok()
        self.commit().assert_ok()

    def config_data(self, source="running", **kw):
        r = self.get_config(source, **kw)
        assert not r.errors, r.raw
        return r.data


def wait_disconnected(nc: Nc, limit: float = 10) -> bool:
    deadline = time.monotonic() + limit
    while nc.m.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    return not nc.m.connected


# ------------------------------------------------------------------ the environment of one test


@dataclass
class NcEnv:
    """A running daemon with NETCONF, the files clients need, and its namespaces."""

    daemon: NcDaemon
    topo: object
    workdir: Path
    port: int
    known_hosts: Path
    ssh_config: Path
    host_key: str
    sessions: list = field(default_factory=list)

    @property
    def ns(self):
        return self.topo.server

    def connect(self, **kw) -> Nc:
        nc = Nc(self, **kw)
        self.sessions.append(nc)
        return nc

    def write_client_files(self):
        self.host_key = host_public_key(self.daemon.state_dir)
        logged = self.daemon.logged_host_key()
        assert logged == self.host_key, f"daemon logged host_key={logged}, the key file says {self.host_key}"
        self.known_hosts.write_text(f"[{HOST}]:{self.port} {self.host_key}\n")
        self.ssh_config.write_text(
            f"Host *\n    UserKnownHostsFile {self.known_hosts}\n    StrictHostKeyChecking yes\n"
        )

    def close(self):
        for nc in self.sessions:
            try:
                nc.close()
            except Exception:
                pass
        self.sessions.clear()

    # -- netconf-console2

    def console(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        """netconf-console2 inside the server namespace, host key verified against known_hosts
        (via --ssh-config, whose UserKnownHostsFile names it)."""
        cmd = [
            str(NETCONF_CONSOLE), "--host", HOST, "--port", str(self.port), "-u", USER, "-p", PASSWORD,
            "--ssh-config", str(self.ssh_config), "--hostkey-verify", *args,
        ]  # fmt: skip
        p = self.ns.run(*cmd, check=False, timeout=timeout)
        if check:
            assert p.returncode == 0, f"netconf-console2 {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        return p

    # -- Ansible

    def ansible_playbook(self, playbook: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """ansible-playbook inside the server namespace against this daemon over
        ansible.netcommon.netconf, host key checking on (known_hosts via the ssh_config file)."""
        adir = self.workdir / "ansible"
        adir.mkdir(exist_ok=True)
        (adir / "inventory.ini").write_text(
            "[nd]\n"
            f"netdhcpd ansible_host={HOST} ansible_port={self.port} ansible_user={USER} ansible_password={PASSWORD}\n"
            "\n[nd:vars]\n"
            "ansible_connection=ansible.netcommon.netconf\n"
            "ansible_network_os=ansible.netcommon.default\n"
            "ansible_host_key_checking=true\n"
            f"ansible_netconf_ssh_config={self.ssh_config}\n"
            "ansible_python_interpreter=" + sys.executable + "\n"
        )
        (adir / "playbook.yml").write_text(playbook)
        env = dict(os.environ)
        env.update(
            ANSIBLE_HOME=str(adir / "home"),
            ANSIBLE_LOCAL_TEMP=str(adir / "tmp"),
            ANSIBLE_PERSISTENT_CONTROL_PATH_DIR=str(adir / "pc"),
            ANSIBLE_HOST_KEY_CHECKING="True",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_PERSISTENT_COMMAND_TIMEOUT="60",
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        )
        cmd = ["ip", "netns", "exec", self.ns.name, str(ANSIBLE_PLAYBOOK), "-i", str(adir / "inventory.ini"), str(adir / "playbook.yml")]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(adir))
        return p

    def kill_namespace_leftovers(self):
        """Processes still inside the server namespace that this test started (Ansible's
        persistent connection process) other than the daemon: killed by PID."""
        p = subprocess.run(["ip", "netns", "pids", self.ns.name], capture_output=True, text=True, timeout=10)
        keep = {self.daemon.proc.pid} if self.daemon.proc is not None else set()
        for line in p.stdout.split():
            pid = int(line)
            if pid in keep:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def make_env(topo, tmp_path: Path, config_xml: str, request, *, settings: str | None = None, name: str = "nc") -> NcEnv:
    workdir = tmp_path / name
    workdir.mkdir(parents=True, exist_ok=True)
    settings_path = workdir / "settings.toml"
    settings_path.write_text(settings or settings_toml())
    d = NcDaemon(topo.server, workdir / "daemon", config_xml, ("--settings", str(settings_path)))
    env = NcEnv(d, topo, workdir, PORT, workdir / "known_hosts", workdir / "ssh_config", "")
    return env


@pytest.fixture
def nc_env_factory(topo, tmp_path, request, binary):
    """nc_env_factory(config_xml, settings=None) -> a started NcEnv. At teardown: sessions
    closed, leftover client processes in the namespace killed by PID, the daemon stopped (and
    its log printed if the test failed; a daemon that exited on its own fails the test)."""
    envs: list[NcEnv] = []

    def make(config_xml: str, settings: str | None = None, name: str | None = None) -> NcEnv:
        env = make_env(topo, tmp_path, config_xml, request, settings=settings, name=name or f"nc{len(envs)}")
        envs.append(env)
        env.daemon.start()
        env.write_client_files()
        return env

    yield make
    crashed = []
    failed = any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed for w in ("setup", "call"))
    for env in envs:
        env.close()
        if env.daemon.running():
            env.kill_namespace_leftovers()
        d = env.daemon
        if d.crashed():
            crashed.append(f"netdhcpd exited on its own with status {d.proc.returncode}\n{d.log_tail(150)}")
        elif failed:
            print(d.log_tail(150))
        d.close()
    if crashed:
        pytest.fail("\n".join(crashed), pytrace=False)


# ------------------------------------------------------------------ config XML helpers


def ndhcp(inner: str, op: str | None = None) -> str:
    """<server xmlns=netdhcp> wrapping inner (an edit-config payload)."""
    return f'<server xmlns="{NDHCP_NS}" xmlns:nc="{BASE_NS}">{inner}</server>'


def subnet_xml(sid: int, prefix: str, pools=(), op: str | None = None, extra: str = "") -> str:
    attr = f' nc:operation="{op}"' if op else ""
    pools_xml = "".join(f"<pool><start>{s}</start><end>{e}</end></pool>" for s, e in pools)
    return f"<subnet{attr}><id>{sid}</id><prefix>{prefix}</prefix>{pools_xml}{extra}</subnet>"


def leaf(parent, path: str) -> str | None:
    """Text of the first element at a relative XPath (with the d: prefix) under parent."""
    r = parent.xpath(path, namespaces=NSMAP)
    if not r:
        return None
    v = r[0]
    return v if isinstance(v, str) else (v.text or "").strip()


def leaves(parent, path: str) -> list[str]:
    return [v if isinstance(v, str) else (v.text or "").strip() for v in parent.xpath(path, namespaces=NSMAP)]


def wait_for(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what}: not true within {timeout}s (last: {last!r})")


# ------------------------------------------------------------------ the NETCONF tests' configuration

PRL = [1, 3, 6, 15, 42, 51, 54]


def nc_subnet(sid: int = 1, prefix: str = "100.64.0.0/16", pool=("100.64.1.0", "100.64.1.99"), **extra) -> dict:
    s = {"id": sid, "prefix": prefix, "router": "100.64.0.1", "pool": [{"start": pool[0], "end": pool[1]}]}
    s.update(extra)
    return s


def nc_dhcp4(iface: str, subnets=None, **overrides) -> dict:
    """Subnet 1 100.64.0.0/16 (pool 100.64.1.0-99, router 100.64.0.1, option 42 = 100.64.0.1),
    dns-server 100.64.0.1, domain-name example.net; lifetimes left to their defaults
    (valid-lifetime 3600), so with-defaults has something to show."""
    d = {"interface": iface, "dns-server": "100.64.0.1", "domain-name": "example.net"}
    for k, v in overrides.items():
        d[k.replace("_", "-")] = v
    d["subnet"] = subnets if subnets is not None else [
        nc_subnet(option=[{"code": 42, "format": "ipv4-address-list", "value": "100.64.0.1"}])
    ]
    return d


def nc_config(iface: str, **kw) -> str:
    from configs import server_xml

    return server_xml(dhcpv4=nc_dhcp4(iface, **kw))


# ------------------------------------------------------------------ pcap reading (load test)


def pcap_dhcp(path: Path | str) -> list[tuple[float, dict]]:
    """Every DHCPv4 message in a pcap (Ethernet link type), in capture order, as
    (timestamp, decoded message) with dhcp4_wire's decoder (fast enough for tens of thousands)."""
    import struct

    import dhcp4_wire as wire
    from dhcp4_client import parse_frame

    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, scale = "<", 1e-6
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, scale = ">", 1e-6
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, scale = "<", 1e-9
    else:
        raise AssertionError(f"{path}: not a pcap file (magic {magic.hex()})")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"{path}: link type {linktype}, expected Ethernet"
    out = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off : off + 16])
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        parsed = parse_frame(frame)
        if parsed is None:
            continue
        _dst, _src, _ipsrc, _ipdst, sport, dport, payload = parsed
        if sport not in (67, 68) or dport not in (67, 68):
            continue
        try:
            msg = wire.decode(payload)
        except wire.DecodeError:
            continue
        out.append((sec + frac * scale, msg))
    return out
