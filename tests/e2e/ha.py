"""Failover (HA) harness: a two-server topology with a separate peer link, the servers of a pair
(netdhcpd, or ISC Kea 2.2 as the partner), their HA state read over the peer protocol and over
NETCONF, many DHCP clients at once, lease file comparison, and the RFC 3074 hash that decides
which server of a load-balancing pair answers a client.

Topology (HaTopology), every namespace made here and deleted by destroy():

        s1  lanX 100.64.0.1/10 ─┐                       ┌─ plX 100.100.0.1/30  s1
        s2  lanX 100.64.0.3/10 ─┼─ [lan ns: bridge br0] │        (peer link)
        cl  clX  (no address)  ─┘                       └─ plX 100.100.0.2/30  s2

The clients' broadcasts reach both servers through the bridge; the servers talk to each other
(heartbeats, lease updates, lease sync) only over the peer link, so cut_peer_link() separates
them while both keep their clients. The peer /30 lies inside the clients' 100.64.0.0/10, so each
server also has an unreachable route for it (metric 4096, behind the link's own route): with the
link down, peer traffic fails at once instead of finding its way over the bridge.

Run as a script inside the client namespace it performs many DHCP exchanges in one process and
reports every reply of every server (a client answered twice shows two offers):

    ip netns exec NS python ha.py --iface clX --timeout 3 dora '[{"mac": "02:..", "secs": 0}]'
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dhcp4_wire as wire  # noqa: E402

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------- RFC 3074 load balancing

# RFC 3074 section 6, "loadb_mx_tbl": a permutation of the 256 byte values. Copied from the RFC
# (not from the daemon), so the tests check the daemon's table rather than mirror it.
LOADB_MX_TBL = bytes([
    251, 175, 119, 215, 81, 14, 79, 191, 103, 49, 181, 143, 186, 157, 0, 232,
    31, 32, 55, 60, 152, 58, 17, 237, 174, 70, 160, 144, 220, 90, 57, 223,
    59, 3, 18, 140, 111, 166, 203, 196, 134, 243, 124, 95, 222, 179, 197, 65,
    180, 48, 36, 15, 107, 46, 233, 130, 165, 30, 123, 161, 209, 23, 97, 16,
    40, 91, 219, 61, 100, 10, 210, 109, 250, 127, 22, 138, 29, 108, 244, 67,
    207, 9, 178, 204, 74, 98, 126, 249, 167, 116, 34, 77, 193, 200, 121, 5,
    20, 113, 71, 35, 128, 13, 182, 94, 25, 226, 227, 199, 75, 27, 41, 245,
    230, 224, 43, 225, 177, 26, 155, 150, 212, 142, 218, 115, 241, 73, 88, 105,
    39, 114, 62, 255, 192, 201, 145, 214, 168, 158, 221, 148, 154, 122, 12, 84,
    82, 163, 44, 139, 228, 236, 205, 242, 217, 11, 187, 146, 159, 64, 86, 239,
    195, 42, 106, 198, 118, 112, 184, 172, 87, 2, 173, 117, 176, 229, 247, 253,
    137, 185, 99, 164, 102, 147, 45, 66, 231, 52, 141, 211, 194, 206, 246, 238,
    56, 110, 78, 248, 63, 240, 189, 93, 92, 51, 53, 183, 19, 171, 72, 50,
    33, 104, 101, 69, 8, 252, 83, 120, 76, 135, 85, 54, 202, 125, 188, 213,
    96, 235, 136, 208, 162, 129, 190, 132, 156, 38, 47, 1, 7, 254, 24, 4,
    216, 131, 89, 21, 28, 133, 37, 153, 149, 80, 170, 68, 6, 169, 234, 151,
])  # fmt: skip


def lb_hash(key: bytes) -> int:
    """RFC 3074 section 6 `loadb_p_hash`: seed = key length (an unsigned char, so modulo 256),
    then hash = T[hash ^ byte] over the bytes from the last to the first."""
    h = len(key) & 0xFF
    for b in reversed(key):
        h = LOADB_MX_TBL[h ^ b]
    return h


def lb_key(mac: str, client_id: str | bytes | None = None) -> bytes:
    """What a DHCPv4 client is hashed by (Kea's rule): its client identifier (option 61, type
    byte included) when present and not empty, else its hardware address."""
    if isinstance(client_id, str):
        client_id = wire.hex_bytes(client_id)
    return client_id if client_id else wire.mac_bytes(mac)


def primary_scope(mac: str, client_id: str | bytes | None = None) -> bool:
    """Whether a load-balancing pair's primary answers this client: even hash -> primary, odd
    -> secondary (Kea's split with two active servers)."""
    return lb_hash(lb_key(mac, client_id)) % 2 == 0


# ---------------------------------------------------------------- topology


class HaTopology:
    """Two server namespaces and a client namespace on one Linux bridge (in its own "lan"
    namespace), plus a veth pair straight between the servers for the peer link. Modelled on
    netns.Topology: names carry this process's PID and a counter, and destroy() deletes exactly
    the namespaces made here (with every process started through them, by PID)."""

    def __init__(self):
        from configs_ha import PEER_NET, S1_LAN_IP, S1_PEER_IP, S2_LAN_IP, S2_PEER_IP
        from netns import PREFIX_LEN, _counter

        self.n = next(_counter)
        pid = os.getpid()
        n = self.n
        self.s1_if = f"lan{n}"  # each server's leg on the bridge (same name, separate namespaces)
        self.s2_if = f"lan{n}"
        self.client_if = f"cl{n}"
        self.peer_if = f"pl{n}"  # each server's end of the peer link
        self.bridge = "br0"
        self.bridge_ports = [f"p1-{n}", f"p2-{n}", f"pc-{n}"]
        self.s1_ip, self.s2_ip = S1_LAN_IP, S2_LAN_IP
        self.s1_peer_ip, self.s2_peer_ip = S1_PEER_IP, S2_PEER_IP
        self.namespaces = []
        try:
            self.s1 = self._ns(f"nd-h1-{pid}-{n}")
            self.s2 = self._ns(f"nd-h2-{pid}-{n}")
            self.client = self._ns(f"nd-hc-{pid}-{n}")
            self.lan = self._ns(f"nd-hl-{pid}-{n}")
            self.lan.ip("link", "add", "name", self.bridge, "type", "bridge")
            # Bridged frames stay out of iptables (there is none in this namespace anyway).
            self.lan.run("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0", check=False)
            for ns, iface, port in zip((self.s1, self.s2, self.client), (self.s1_if, self.s2_if, self.client_if),
                                       self.bridge_ports):  # fmt: skip
                self._veth(ns, iface, self.lan, port)
                self.lan.ip("link", "set", "dev", port, "master", self.bridge)
            self._veth(self.s1, self.peer_if, self.s2, self.peer_if)
            self.s1.add_address(self.s1_if, f"{self.s1_ip}/{PREFIX_LEN}")
            self.s2.add_address(self.s2_if, f"{self.s2_ip}/{PREFIX_LEN}")
            self.s1.add_address(self.peer_if, f"{self.s1_peer_ip}/30")
            self.s2.add_address(self.peer_if, f"{self.s2_peer_ip}/30")
            # The peer /30 lies inside the clients' 100.64.0.0/10: with the peer link down, the
            # LAN route would carry the peer traffic instead (and the partner answers ARP for
            # its peer address on the bridge). An unreachable route for the /30, behind the
            # link's own route, keeps the peer traffic off the clients' network: a cut link
            # is a partition.
            for ns in (self.s1, self.s2):
                ns.ip("route", "add", "unreachable", PEER_NET, "metric", "4096")
            for ns, ifaces in self._links():
                for iface in ifaces:
                    ns.ip("link", "set", "dev", iface, "up")
            self._wait_forwarding()
            self.s1_mac = self.s1.mac(self.s1_if)
            self.s2_mac = self.s2.mac(self.s2_if)
        except BaseException:
            self.destroy()
            raise

    def _ns(self, name: str):
        from netns import Netns

        ns = Netns(name)
        self.namespaces.append(ns)
        return ns

    @staticmethod
    def _veth(a, a_if: str, b, b_if: str):
        # Made inside a with its peer put straight into b: no name ever exists in the host
        # namespace.
        a.ip("link", "add", "name", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)

    def _links(self):
        return [
            (self.s1, [self.s1_if, self.peer_if]),
            (self.s2, [self.s2_if, self.peer_if]),
            (self.client, [self.client_if]),
            (self.lan, [self.bridge, *self.bridge_ports]),
        ]

    def _wait_forwarding(self, timeout: float = 10):
        """Bounded wait until every bridge port forwards (without STP it is at once, but the
        kernel says so, not us)."""
        deadline = time.monotonic() + timeout
        states = {}
        while time.monotonic() < deadline:
            for port in self.bridge_ports:
                out = json.loads(self.lan.ip("-j", "-d", "link", "show", "dev", port).stdout)
                states[port] = out[0].get("linkinfo", {}).get("info_slave_data", {}).get("state")
            if all(s == "forwarding" for s in states.values()):
                return
            time.sleep(0.05)
        raise AssertionError(f"bridge ports not forwarding within {timeout}s: {states}")

    # -- the peer link

    def cut_peer_link(self):
        """Both ends of the peer link down: the servers lose each other, not their clients."""
        self.s1.ip("link", "set", "dev", self.peer_if, "down")
        self.s2.ip("link", "set", "dev", self.peer_if, "down")

    def restore_peer_link(self):
        self.s1.ip("link", "set", "dev", self.peer_if, "up")
        self.s2.ip("link", "set", "dev", self.peer_if, "up")

    def peer_link_up(self) -> bool:
        for ns in (self.s1, self.s2):
            out = json.loads(ns.ip("-j", "link", "show", "dev", self.peer_if).stdout)
            if "UP" not in out[0].get("flags", []):
                return False
        return True

    # -- helpers

    def server_ns(self, which: int):
        return self.s1 if which == 1 else self.s2

    def server_if(self, which: int) -> str:
        return self.s1_if if which == 1 else self.s2_if

    def client_add_address(self, addr_with_len: str):
        """An address on the client leg, for perfdhcp (it sends as a relay, from that address)."""
        self.client.add_address(self.client_if, addr_with_len)

    def destroy(self):
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces.clear()


# ---------------------------------------------------------------- the peer protocol


class PeerLinkError(RuntimeError):
    pass


def _setns(ns_name: str):
    """Move the calling thread into a network namespace (setns(2) changes only this thread)."""
    from netconf_tools import CLONE_NEWNET, _libc

    fd = os.open(f"/run/netns/{ns_name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"setns({ns_name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _post(url: str, body: dict, timeout: float):
    """POST a Kea control command as JSON; the answer decoded. Plain http.client: no proxy
    settings of the environment apply, the connection goes exactly where the URL says."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        data = json.dumps(body).encode()
        conn.request("POST", u.path or "/", body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise PeerLinkError(f"{url}: HTTP {resp.status}: {raw[:300]!r}")
        return json.loads(raw)
    finally:
        conn.close()


def ha_command(ns, url: str, command: str, arguments: dict | None = None, timeout: float = 2.0) -> dict:
    """Send one Kea HA command to the listener at url from inside namespace ns (the server's own
    namespace: its peer address is local there, even with the peer link down) and return the
    first answer of Kea's list, {"result": 0, "text": ..., "arguments": {...}}."""
    from netconf_tools import _in_netns

    body: dict = {"command": command, "service": ["dhcp4"]}
    if arguments is not None:
        body["arguments"] = arguments
    answer = _in_netns(ns.name, lambda: _post(url, body, timeout))
    if isinstance(answer, list):
        if not answer:
            raise PeerLinkError(f"{url}: empty answer to {command}")
        answer = answer[0]
    return answer


def ha_heartbeat(ns, url: str, timeout: float = 2.0) -> dict | None:
    """The arguments of the server's answer to ha-heartbeat ({"state", "date-time", "scopes",
    "unsent-update-count"}), or None while it does not answer (not started, killed, busy)."""
    try:
        a = ha_command(ns, url, "ha-heartbeat", timeout=timeout)
    except (OSError, PeerLinkError, ValueError, http.client.HTTPException, TimeoutError):
        return None
    if a.get("result") != 0:
        return None
    return a.get("arguments")


def ha_state(ns, url: str, timeout: float = 2.0) -> str | None:
    """The server's HA state as it tells its partner (ha-heartbeat), None when it does not
    answer."""
    a = ha_heartbeat(ns, url, timeout)
    return None if a is None else a.get("state")


def wait_state(ns, url: str, state: str | set[str] | tuple, timeout: float, what: str | None = None) -> float:
    """Poll ha-heartbeat until the server is in `state` (one name, or any of several); returns
    the seconds it took. On timeout, fails with every state seen on the way."""
    wanted = {state} if isinstance(state, str) else set(state)
    t0 = time.monotonic()
    deadline = t0 + timeout
    seen: list[str | None] = []
    while True:
        s = ha_state(ns, url, timeout=min(2.0, max(0.2, deadline - time.monotonic())))
        if not seen or seen[-1] != s:
            seen.append(s)
        if s in wanted:
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what or url}: not in {sorted(wanted)} within {timeout}s; states seen: {seen}"
            )
        time.sleep(0.05)


class StatePoller:
    """Records a server's HA state transitions as seen through ha-heartbeat, every `interval`,
    in a background thread that lives in the server's namespace. Bounded: it stops by itself
    after `limit` seconds. A state held for less than the interval may go unseen."""

    def __init__(self, ns, url: str, interval: float = 0.05, limit: float = 120.0):
        self.ns, self.url, self.interval, self.limit = ns, url, interval, limit
        self.transitions: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"ha-poll-{ns.name}", daemon=True)
        self.error: BaseException | None = None

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            _setns(self.ns.name)
            end = time.monotonic() + self.limit
            while not self._stop.is_set() and time.monotonic() < end:
                try:
                    a = _post(self.url, {"command": "ha-heartbeat", "service": ["dhcp4"]}, timeout=1.0)
                    a = a[0] if isinstance(a, list) and a else a
                    s = a.get("arguments", {}).get("state") if a.get("result") == 0 else None
                except Exception:
                    s = None
                if not self.transitions or self.transitions[-1][1] != s:
                    self.transitions.append((time.monotonic(), s))
                self._stop.wait(self.interval)
        except BaseException as e:  # reported by stop()
            self.error = e

    def stop(self) -> list[str | None]:
        self._stop.set()
        self._thread.join(10)
        if self.error is not None:
            raise self.error
        return self.states()

    def states(self) -> list[str | None]:
        return [s for _, s in self.transitions]


def assert_path(seen: list[str | None], order: list[str], what: str):
    """The states seen (None: not answering) are a walk forward along `order`, ending at its
    last state: no state outside it, none revisited after a later one."""
    states = [s for s in seen if s is not None]
    assert states, f"{what}: no state seen"
    pos = [order.index(s) if s in order else -1 for s in states]
    assert -1 not in pos, f"{what}: states seen {states}, expected only {order}"
    assert pos == sorted(pos), f"{what}: states seen {states} do not follow {order}"
    assert states[-1] == order[-1], f"{what}: ended in {states[-1]}, expected {order[-1]}"


# ---------------------------------------------------------------- the servers of a pair


class HaNetdhcpd:
    """One netdhcpd of a pair, with NETCONF on 127.0.0.1:830 of its own namespace (to read
    /server/state/ha and commit changes) and its peer URL. Started with --startup every time,
    on the same state directory: a restart after kill9() is a server coming back with its
    lease file."""

    kind = "netdhcpd"

    def __init__(self, topo: HaTopology, which: int, workdir: Path, config_xml: str, url: str):
        from netconf_tools import PORT, NcDaemon, NcEnv, settings_toml

        self.topo, self.which = topo, which
        self.ns = topo.server_ns(which)
        self.iface = topo.server_if(which)
        self.lan_ip = topo.s1_ip if which == 1 else topo.s2_ip
        self.url = url
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        settings = self.workdir / "settings.toml"
        settings.write_text(settings_toml())
        self.daemon = NcDaemon(self.ns, self.workdir / "daemon", config_xml, ("--settings", str(settings)))

        # NcEnv needs of a topology only the namespace its NETCONF clients run in.
        self.env = NcEnv(self.daemon, SimpleNamespace(server=self.ns), self.workdir, PORT, self.workdir / "known_hosts",
                         self.workdir / "ssh_config", "")  # fmt: skip
        self._session = None
        self._client_files = False

    def __repr__(self):
        return f"netdhcpd(s{self.which} {self.url})"

    # -- lifecycle

    def start(self, timeout: float = 30):
        self.close_session()
        self.daemon.start(timeout=timeout)
        if not self._client_files:
            self.env.write_client_files()
            self._client_files = True
        return self

    def kill9(self):
        self.close_session()
        self.daemon.kill9()

    def stop(self):
        self.close_session()
        return self.daemon.stop()

    def running(self) -> bool:
        return self.daemon.running()

    def crashed(self) -> bool:
        return self.daemon.crashed()

    def close(self):
        self.close_session()
        self.env.close()
        self.daemon.close()

    def log_tail(self, lines: int = 120) -> str:
        return self.daemon.log_tail(lines)

    # -- leases

    def lease_file(self) -> Path:
        return self.daemon.lease_file()

    def lease_rows(self) -> list[dict]:
        from loadtools import read_lease_rows

        return read_lease_rows(self.lease_file())

    # -- HA state

    def state(self) -> str | None:
        return ha_state(self.ns, self.url)

    def heartbeat(self) -> dict | None:
        return ha_heartbeat(self.ns, self.url)

    def wait_state(self, state, timeout: float) -> float:
        return wait_state(self.ns, self.url, state, timeout, what=repr(self))

    # -- NETCONF

    def session(self):
        if self._session is None or not self._session.m.connected:
            self.close_session()
            self._session = self.env.connect()
        return self._session

    def close_session(self):
        if self._session is not None:
            try:
                self._session.close()
            except Exception:
                pass
            if self._session in self.env.sessions:
                self.env.sessions.remove(self._session)
            self._session = None

    def oper(self) -> dict:
        """/server/state/ha over NETCONF get, as {leaf: text} ("scopes": list of names)."""
        from configs import NS as NDHCP_NS
        from netconf_tools import ndhcp

        r = self.session().get(filter=("subtree", ndhcp("<state><ha/></state>")))
        assert not r.errors, r.raw
        ha = r.data.find(f"{{{NDHCP_NS}}}server/{{{NDHCP_NS}}}state/{{{NDHCP_NS}}}ha")
        assert ha is not None, f"no /server/state/ha in {r.raw[:2000]}"
        out: dict = {"scopes": []}
        for child in ha:
            name = child.tag.split("}")[-1]
            text = (child.text or "").strip()
            if name == "scopes":
                out["scopes"].append(text)
            else:
                out[name] = text
        return out

    def wait_oper(self, pred, timeout: float, what: str):
        """Poll /server/state/ha until pred(leaves) holds; returns the leaves."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.oper()
            if pred(last):
                return last
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self!r}: {what} not true within {timeout}s; last /server/state/ha: {last}")
            time.sleep(0.1)


class HaKea:
    """ISC Kea 2.2 (kea-dhcp4 with the HA and lease_cmds hooks) as one server of a pair, with
    the same interface as HaNetdhcpd. Readiness: Kea's DHCP4_STARTED, read from the log of the
    current start only (each start's log is its own file)."""

    kind = "kea"

    def __init__(self, topo: HaTopology, which: int, workdir: Path, config_fn, url: str):
        """config_fn(lease_file) -> Kea's configuration dict."""
        from loadtools import KeaDhcp4

        self.topo, self.which = topo, which
        self.ns = topo.server_ns(which)
        self.iface = topo.server_if(which)
        self.lan_ip = topo.s1_ip if which == 1 else topo.s2_ip
        self.url = url
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lease_file = self.workdir / "kea-leases4.csv"
        self.kea = KeaDhcp4(self.ns, self.workdir, config_fn(self._lease_file))
        self.starts = 0
        self._ended_on_purpose = False

    def __repr__(self):
        return f"kea(s{self.which} {self.url})"

    @property
    def config_path(self) -> Path:
        return self.kea.config_path

    def start(self, timeout: float = 30):
        if self.kea.log_path.exists():
            self.kea.log_path.rename(self.workdir / f"kea-dhcp4.log.{self.starts}")
        self.starts += 1
        self._ended_on_purpose = False
        self.kea.start(timeout=timeout)
        return self

    def kill9(self):
        p = self.kea.proc
        if p is not None and p.poll() is None:
            self._ended_on_purpose = True
            os.kill(p.pid, 9)
            p.wait(timeout=10)

    def stop(self):
        self._ended_on_purpose = True
        return self.kea.stop()

    def running(self) -> bool:
        return self.kea.proc is not None and self.kea.proc.poll() is None

    def crashed(self) -> bool:
        return self.kea.proc is not None and self.kea.proc.poll() is not None and not self._ended_on_purpose

    def close(self):
        self.stop()

    def log_tail(self, lines: int = 120) -> str:
        text = self.kea.log_text().splitlines()
        return f"--- last {min(lines, len(text))} lines of {self.kea.log_path} ---\n" + "\n".join(text[-lines:])

    def lease_file(self) -> Path:
        return self._lease_file

    def lease_rows(self) -> list[dict]:
        from loadtools import read_lease_rows

        return read_lease_rows(self._lease_file)

    def state(self) -> str | None:
        return ha_state(self.ns, self.url)

    def heartbeat(self) -> dict | None:
        return ha_heartbeat(self.ns, self.url)

    def wait_state(self, state, timeout: float) -> float:
        return wait_state(self.ns, self.url, state, timeout, what=repr(self))


def kea_check(config: dict, workdir: Path, ns) -> subprocess.CompletedProcess:
    """`kea-dhcp4 -t` inside ns (Kea checks that the configured interface exists): Kea parses
    the configuration and loads the hooks with their parameters."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "kea-check.json"
    path.write_text(json.dumps(config, indent=2))
    env = dict(os.environ, KEA_PIDFILE_DIR=str(workdir), KEA_LOCKFILE_DIR=str(workdir))
    cmd = ["ip", "netns", "exec", ns.name, "kea-dhcp4", "-t", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


class HaServers:
    """The servers a test started (see the ha_servers fixture): made here, each in its side of
    the topology with its own work directory; closed (stopped by PID) at teardown."""

    def __init__(self, topo: HaTopology, tmp_path: Path):
        self.topo = topo
        self.tmp_path = Path(tmp_path)
        self.servers: list = []

    def netdhcpd(self, which: int, config_xml: str, start: bool = True) -> HaNetdhcpd:
        from configs_ha import S1_URL, S2_URL

        s = HaNetdhcpd(self.topo, which, self.tmp_path / f"s{which}-netdhcpd-{len(self.servers)}", config_xml,
                       S1_URL if which == 1 else S2_URL)  # fmt: skip
        self.servers.append(s)
        return s.start() if start else s

    def kea(self, which: int, config_fn, start: bool = True) -> HaKea:
        from configs_ha import S1_URL, S2_URL

        s = HaKea(self.topo, which, self.tmp_path / f"s{which}-kea-{len(self.servers)}", config_fn,
                  S1_URL if which == 1 else S2_URL)  # fmt: skip
        self.servers.append(s)
        return s.start() if start else s

    def teardown(self, failed: bool) -> list[str]:
        """Stops every server; returns the reports of those that exited on their own (a crash
        fails the test). Logs are printed when the test failed."""
        crashed = []
        for s in self.servers:
            if s.crashed():
                crashed.append(f"{s!r} exited on its own\n{s.log_tail(150)}")
            elif failed:
                print(s.log_tail(150))
            try:
                s.close()
            except Exception as e:  # keep stopping the others
                crashed.append(f"{s!r}: close failed: {e!r}")
        self.servers.clear()
        return crashed


def wait_pair(a, b, state_a, state_b=None, timeout: float = 40) -> float:
    """Both servers in their states (as their heartbeat answers say, at the same moment);
    returns the seconds it took."""
    state_b = state_a if state_b is None else state_b
    wa = {state_a} if isinstance(state_a, str) else set(state_a)
    wb = {state_b} if isinstance(state_b, str) else set(state_b)
    t0 = time.monotonic()
    deadline = t0 + timeout
    seen: list[tuple] = []
    while True:
        now = (a.state(), b.state())
        if not seen or seen[-1] != now:
            seen.append(now)
        if now[0] in wa and now[1] in wb:
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise AssertionError(f"{a!r} in {sorted(wa)} and {b!r} in {sorted(wb)} not reached within {timeout}s; "
                                 f"(state a, state b) seen: {seen}")  # fmt: skip
        time.sleep(0.05)


def hold_states(a, b, state_a, state_b, seconds: float, interval: float = 0.1) -> list[tuple]:
    """Samples both states every `interval` for `seconds` (a bounded observation, not a wait):
    returns the samples that were not (state_a, state_b)."""
    off = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = (a.state(), b.state())
        if now != (state_a, state_b):
            off.append(now)
        time.sleep(interval)
    return off


# ---------------------------------------------------------------- many clients at once


@dataclass
class Client:
    mac: str
    client_id: str | None = None  # option 61 payload as hex (type byte included)
    secs: int = 0  # secs field: how long the client says it has been trying

    def spec(self) -> dict:
        return {"mac": self.mac, "client_id": self.client_id, "secs": self.secs}


def client_mac(group: int, i: int) -> str:
    """Locally administered MACs, one family per test group."""
    return f"02:{group & 0xFF:02x}:00:00:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"


@dataclass
class Exchange:
    """What one client got: every OFFER and every reply to its REQUEST, from any server."""

    mac: str
    offers: list[dict] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)

    @property
    def offer(self) -> dict | None:
        return self.offers[0] if self.offers else None

    @property
    def acks(self) -> list[dict]:
        return [r for r in self.replies if r.get("message_type") == "ack"]

    @property
    def ack(self) -> dict | None:
        acks = self.acks
        return acks[0] if acks else None

    def offered_by(self) -> list[str]:
        return [o.get("server_id") for o in self.offers]

    def acked_by(self) -> list[str]:
        return [a.get("server_id") for a in self.acks]

    def brief(self) -> str:
        replies = [(r.get("message_type"), r.get("server_id"), r.get("yiaddr")) for r in self.replies]
        return f"{self.mac}: offers from {self.offered_by()} replies {replies}"


def dora_all(ns, iface: str, clients: list[Client], timeout: float = 3.0,
             grace: float = 0.6) -> dict[str, Exchange]:  # fmt: skip
    """DISCOVER from every client at once, then REQUEST (of the first OFFER's address, to its
    server) from every client offered, in one process inside ns. Every reply of every server is
    kept: after the last expected reply the client listens `grace` seconds more, so a second
    server answering too is seen. Returns mac -> Exchange."""
    specs = json.dumps([c.spec() for c in clients])
    bound = 2 * (timeout + grace) + 30
    p = ns.run(sys.executable, str(HERE / "ha.py"), "--iface", iface, "--timeout", str(timeout), "--grace", str(grace),
               "dora", specs, check=False, timeout=bound)  # fmt: skip
    if p.returncode != 0:
        raise AssertionError(f"ha.py dora exited {p.returncode}:\n{p.stderr}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return {mac: Exchange(mac, r["offers"], r["replies"]) for mac, r in out.items()}


def _dora_main(a):
    import dhcp4_client as dc

    clients = json.loads(a.clients)
    link = dc.Link(a.iface)
    xids = {}
    for c in clients:
        c["mac"] = c["mac"].lower()
        xids[c["mac"]] = random.getrandbits(32)
    by_xid = {xids[c["mac"]]: c["mac"] for c in clients}

    def send(c, msg_type, requested=None, server_id=None):
        opts = [(wire.OPT_MESSAGE_TYPE, bytes([wire.MESSAGE_CODES[msg_type]]))]
        if c.get("client_id"):
            opts.append((wire.OPT_CLIENT_ID, wire.hex_bytes(c["client_id"])))
        if requested:
            opts.append((wire.OPT_REQUESTED_ADDRESS, wire.ip_bytes(requested)))
        if server_id:
            opts.append((wire.OPT_SERVER_ID, wire.ip_bytes(server_id)))
        opts.append((wire.OPT_PRL, bytes([1, 3, 6, 15, 51, 54])))
        payload = wire.encode(xid=xids[c["mac"]], chaddr=wire.mac_bytes(c["mac"]), secs=int(c.get("secs") or 0),
                              options=opts)  # fmt: skip
        link.send(dc.build_frame(src_mac=c["mac"], dst_mac=dc.BROADCAST_MAC, src_ip="0.0.0.0",
                                 dst_ip="255.255.255.255", sport=68, dport=67, payload=payload))  # fmt: skip

    def collect(expect: set[str], want_type) -> dict[str, list[dict]]:
        """Replies of the wanted kind, per client, until every expected client has one and
        `grace` has passed since, or the timeout."""
        got: dict[str, list[dict]] = {}
        deadline = time.monotonic() + a.timeout
        complete_at = None
        while True:
            now = time.monotonic()
            end = deadline if complete_at is None else min(deadline, complete_at + a.grace)
            if now >= end:
                return got

            def want(m):
                return m.get("op") == wire.BOOTREPLY and by_xid.get(m.get("xid")) == m.get("chaddr") and want_type(m)

            for m in link.receive(min(end, now + 0.1), want, limit=1):
                got.setdefault(m["chaddr"], []).append(m)
            if complete_at is None and expect <= set(got):
                complete_at = time.monotonic()

    for c in clients:
        send(c, "discover")
    offers = collect({c["mac"] for c in clients}, lambda m: m.get("message_type") == "offer")
    requested = set()
    for c in clients:
        o = offers.get(c["mac"])
        if o:
            send(c, "request", requested=o[0]["yiaddr"], server_id=o[0].get("server_id"))
            requested.add(c["mac"])
    replies = collect(requested, lambda m: m.get("message_type") in ("ack", "nak")) if requested else {}
    out = {c["mac"]: {"offers": offers.get(c["mac"], []), "replies": replies.get(c["mac"], [])} for c in clients}
    print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- perfdhcp in the background


class Perf:
    """perfdhcp started in the client namespace (loadtools.perfdhcp_cmd), ended by itself
    (-p seconds) or by SIGINT, bounded either way."""

    def __init__(self, topo: HaTopology, *, rate: int, seconds: int, base_mac: str, clients: int = 1_000_000,
                 extra=("-W", "2000000")):
        from loadtools import perfdhcp_cmd

        self.seconds = seconds
        self.cmd = perfdhcp_cmd(topo.client_if, rate=rate, clients=clients, seconds=seconds, base_mac=base_mac,
                                extra=extra)  # fmt: skip
        self.proc = topo.client.popen(*self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)  # fmt: skip
        self.t0 = time.monotonic()

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self, interrupt: bool = False):
        from loadtools import finish_perfdhcp

        if interrupt and self.proc.poll() is None:
            os.kill(self.proc.pid, 2)  # SIGINT: perfdhcp prints its report and exits
        return finish_perfdhcp(self.proc, self.cmd, timeout=self.seconds + 30)


def failed_exchanges(res) -> tuple[int, int]:
    """(DISCOVERs sent, of those without an ACK) from a perfdhcp report."""
    sent = res.get("DISCOVER-OFFER", "sent packets")
    acked = res.get("REQUEST-ACK", "received packets")
    return sent, sent - acked


# ---------------------------------------------------------------- lease files


def count_rows(path: Path) -> int:
    """Lines after the header of a lease file (cheap: for waiting on a server's progress)."""
    try:
        with open(path, "rb") as f:
            return max(0, sum(1 for _ in f) - 1)
    except FileNotFoundError:
        return 0


def bindings(rows: list[dict], now: float | None = None) -> dict[str, dict]:
    """The leases a memfile says are bound now: the last row per address wins; a row with
    valid_lifetime 0 deletes, expired or non-default-state (declined, reclaimed) rows do not
    count. address -> row."""
    now = time.time() if now is None else now
    last: dict[str, dict] = {}
    for r in rows:
        last[r["address"]] = r
    return {
        a: r for a, r in last.items()
        if int(r["valid_lifetime"]) > 0 and int(r["expire"]) > now and r["state"] == "0"
    }  # fmt: skip


def lease_view(rows: list[dict], now: float | None = None) -> dict[str, tuple[str, int]]:
    """address -> (hwaddr, expire) of the bound leases."""
    return {a: (r["hwaddr"].lower(), int(r["expire"])) for a, r in bindings(rows, now).items()}


def view_diff(a: dict, b: dict, limit: int = 10) -> str:
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    return (f"{len(only_a)} only in the first (e.g. {[(k, a[k]) for k in only_a[:limit]]}), "
            f"{len(only_b)} only in the second (e.g. {[(k, b[k]) for k in only_b[:limit]]}), "
            f"{len(differ)} differ (e.g. {[(k, a[k], b[k]) for k in differ[:limit]]})")  # fmt: skip


def double_allocations(*files: list[dict], now: float | None = None) -> list[tuple[str, list[str]]]:
    """Addresses bound to different clients: within each file the bound row per address is
    one client by construction, so this compares across files (address -> hwaddr of each file
    that binds it)."""
    views = [lease_view(rows, now) for rows in files]
    out = []
    for addr in sorted(set().union(*views)):
        hws = [v[addr][0] for v in views if addr in v]
        if len(set(hws)) > 1:
            out.append((addr, hws))
    return out


# ---------------------------------------------------------------- captures


@dataclass(frozen=True)
class WireReply:
    ts: float
    message_type: str | None
    yiaddr: str
    chaddr: str
    server_id: str | None


def wire_replies(pcap: Path | str) -> list[WireReply]:
    """Every DHCPv4 server reply in a pcap, in capture order, with its capture time (wall
    clock) and server identifier."""
    from netconf_tools import pcap_dhcp

    out = []
    for ts, m in pcap_dhcp(pcap):
        if m.get("op") != wire.BOOTREPLY:
            continue
        out.append(WireReply(ts, m.get("message_type"), m.get("yiaddr"), m.get("chaddr"), m.get("server_id")))
    return out


def wire_conflicts(replies: list[WireReply]) -> list[tuple[str, set[str]]]:
    """Addresses ACKed on the wire to more than one client."""
    per: dict[str, set[str]] = {}
    for r in replies:
        if r.message_type == "ack":
            per.setdefault(r.yiaddr, set()).add(r.chaddr)
    return [(a, hws) for a, hws in sorted(per.items()) if len(hws) > 1]


def describe_conflicts(replies: list[WireReply], t_ref: float, limit: int = 5) -> str:
    """The ACKs of the first conflicting addresses: time (s, from t_ref), server, client."""
    conflicts = wire_conflicts(replies)
    lines = [f"{len(conflicts)} addresses ACKed to two clients (time from reference, server id, chaddr):"]
    for addr, _ in conflicts[:limit]:
        acks = [f"{r.ts - t_ref:+.3f}s {r.server_id} {r.chaddr}"
                for r in replies if r.message_type == "ack" and r.yiaddr == addr]  # fmt: skip
        lines.append(f"  {addr}: " + "; ".join(acks))
    return "\n".join(lines)


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iface", required=True)
    ap.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each round of replies")
    ap.add_argument("--grace", type=float, default=0.6, help="seconds to keep listening once every client has a reply")
    ap.add_argument("cmd", choices=["dora"])
    ap.add_argument("clients", help='JSON list of {"mac", "client_id" (hex or null), "secs"}')
    a = ap.parse_args(argv)
    _dora_main(a)


if __name__ == "__main__":
    main()


# ---------------------------------------------------------------- a third server on the bridge (backups)


@dataclass
class BridgeSide:
    """One more namespace with a leg on the clients' bridge (add_bridge_namespace)."""

    ns: object
    iface: str
    ip: str
    port: str  # its port on the bridge, in the lan namespace


def add_bridge_namespace(topo: HaTopology, ip: str, tag: str = "h3") -> BridgeSide:
    """A namespace nd-<tag>-<pid>-<n> joined to topo's bridge with ip/10 on its leg (lanN, as the
    servers'). It belongs to topo: destroy() deletes it with the others (and every process
    started in it, by PID)."""
    from netns import PREFIX_LEN

    n = topo.n
    ns = topo._ns(f"nd-{tag}-{os.getpid()}-{n}")
    iface, port = f"lan{n}", f"p{tag}-{n}"
    topo._veth(ns, iface, topo.lan, port)
    topo.lan.ip("link", "set", "dev", port, "master", topo.bridge)
    ns.add_address(iface, f"{ip}/{PREFIX_LEN}")
    ns.ip("link", "set", "dev", iface, "up")
    topo.lan.ip("link", "set", "dev", port, "up")
    topo.bridge_ports.append(port)
    topo._wait_forwarding()
    return BridgeSide(ns, iface, ip, port)


class HaSideNetdhcpd(HaNetdhcpd):
    """HaNetdhcpd in a namespace of add_bridge_namespace (a backup server, say) rather than on
    side 1 or 2 of the topology."""

    def __init__(self, topo: HaTopology, side: BridgeSide, which: int, workdir: Path, config_xml: str, url: str):
        view = SimpleNamespace(server_ns=lambda _w: side.ns, server_if=lambda _w: side.iface, s1_ip=side.ip,
                               s2_ip=side.ip)  # fmt: skip
        super().__init__(view, which, workdir, config_xml, url)
        self.topo = topo
        self.side = side


def start_side_netdhcpd(servers: HaServers, side: BridgeSide, config_xml: str, url: str, which: int = 3,
                        start: bool = True) -> HaSideNetdhcpd:
    """A netdhcpd in `side`, owned by `servers` (stopped by PID at teardown, log printed when
    the test failed, a crash fails the test)."""
    s = HaSideNetdhcpd(servers.topo, side, which, servers.tmp_path / f"s{which}-netdhcpd-{len(servers.servers)}",
                       config_xml, url)  # fmt: skip
    servers.servers.append(s)
    return s.start() if start else s


# ---------------------------------------------------------------- the peer protocol over TLS


@dataclass(frozen=True)
class ClientTls:
    """What a TLS client of the peer link presents and trusts: a CA file, and a client
    certificate and key (None: no client certificate)."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    max_version: str | None = None  # "TLSv1_2" to stop at TLS 1.2

    def context(self):
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the certificate and the URL's host
        ctx.load_verify_locations(cafile=str(self.ca_file))
        if self.cert_file is not None:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        if self.max_version is not None:
            ctx.maximum_version = getattr(ssl.TLSVersion, self.max_version)
        return ctx


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self):
        return json.loads(self.body)


def https_post(ns, url: str, body: dict | bytes, tls: ClientTls, *, auth: tuple[str, str] | None = None,
               timeout: float = 2.0) -> HttpAnswer:
    """POST body (JSON) to an https URL from inside namespace ns, with tls's certificate and
    trust, HTTP basic authentication when auth=(user, password); the answer whatever its status.
    TLS or connection failures raise (ssl.SSLError, OSError)."""
    import base64

    from netconf_tools import _in_netns

    u = urllib.parse.urlsplit(url)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()

    def post():
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout, context=tls.context())
        try:
            conn.request("POST", u.path or "/", body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return HttpAnswer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)
        finally:
            conn.close()

    return _in_netns(ns.name, post)


def https_command(ns, url: str, command: str, tls: ClientTls, *, auth: tuple[str, str] | None = None,
                  arguments: dict | None = None, timeout: float = 2.0) -> dict:
    """ha_command over https: the first answer of Kea's list; PeerLinkError on a non-200."""
    body: dict = {"command": command, "service": ["dhcp4"]}
    if arguments is not None:
        body["arguments"] = arguments
    a = https_post(ns, url, body, tls, auth=auth, timeout=timeout)
    if a.status != 200:
        raise PeerLinkError(f"{url}: HTTP {a.status}: {a.body[:300]!r}")
    answer = a.json()
    if isinstance(answer, list):
        if not answer:
            raise PeerLinkError(f"{url}: empty answer to {command}")
        answer = answer[0]
    return answer


def https_heartbeat(ns, url: str, tls: ClientTls, *, auth: tuple[str, str] | None = None,
                    timeout: float = 2.0) -> dict | None:
    """ha_heartbeat over https: the answer's arguments, None while the server does not answer."""
    import ssl

    try:
        a = https_command(ns, url, "ha-heartbeat", tls, auth=auth, timeout=timeout)
    except (OSError, ssl.SSLError, PeerLinkError, ValueError, http.client.HTTPException, TimeoutError):
        return None
    if a.get("result") != 0:
        return None
    return a.get("arguments")


class HaTlsNetdhcpd(HaNetdhcpd):
    """HaNetdhcpd whose peer URL is https (and may want basic authentication): its heartbeat and
    state are read with the harness's own client certificate."""

    def __init__(self, topo: HaTopology, which: int, workdir: Path, config_xml: str, url: str, tls: ClientTls,
                 auth: tuple[str, str] | None = None):
        super().__init__(topo, which, workdir, config_xml, url)
        self.tls, self.auth = tls, auth

    def heartbeat(self) -> dict | None:
        return https_heartbeat(self.ns, self.url, self.tls, auth=self.auth)

    def state(self) -> str | None:
        a = self.heartbeat()
        return None if a is None else a.get("state")

    def wait_state(self, state, timeout: float) -> float:
        wanted = {state} if isinstance(state, str) else set(state)
        t0 = time.monotonic()
        deadline = t0 + timeout
        seen: list[str | None] = []
        while True:
            s = self.state()
            if not seen or seen[-1] != s:
                seen.append(s)
            if s in wanted:
                return time.monotonic() - t0
            if time.monotonic() >= deadline:
                raise AssertionError(f"{self!r}: not in {sorted(wanted)} within {timeout}s; states seen: {seen}")
            time.sleep(0.05)


def start_tls_netdhcpd(servers: HaServers, which: int, config_xml: str, url: str, tls: ClientTls,
                       auth: tuple[str, str] | None = None, start: bool = True) -> HaTlsNetdhcpd:
    """A netdhcpd on side `which` with an https peer URL, owned by `servers` (as
    HaServers.netdhcpd)."""
    s = HaTlsNetdhcpd(servers.topo, which, servers.tmp_path / f"s{which}-netdhcpd-{len(servers.servers)}", config_xml,
                      url, tls, auth)  # fmt: skip
    servers.servers.append(s)
    return s.start() if start else s
