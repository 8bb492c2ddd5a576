"""Network namespaces and veth pairs for one test.

Every name carries this process's PID and a counter, so tests (and concurrent test runs)
never share a namespace. A topology deletes exactly the namespaces it created and kills
exactly the processes started through it, by PID.

Addresses used: IPv4 inside 100.64.0.0/10 only, IPv6 inside 2001:db8::/32 only. Nothing
here routes out of the namespaces: they have no default route and no link to the host.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import signal
import subprocess
import time

_counter = itertools.count(1)

SERVER_IP = "100.64.0.1"
CLIENT_RELAY_IP = "100.64.0.2"
PREFIX_LEN = 10
ALLOWED_V4 = ipaddress.ip_network("100.64.0.0/10")
ALLOWED_V6 = ipaddress.ip_network("2001:db8::/32")


class NetnsError(RuntimeError):
    pass


def _check_allowed(addr_with_len: str):
    iface = ipaddress.ip_interface(addr_with_len)
    allowed = ALLOWED_V4 if iface.version == 4 else ALLOWED_V6
    if iface.ip not in allowed:
        raise NetnsError(f"{addr_with_len} is outside the test ranges (100.64.0.0/10, 2001:db8::/32)")


def sh(*cmd: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run a command, capturing output; on failure raise with its stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return p


class Netns:
    """One network namespace made by this test run."""

    def __init__(self, name: str):
        self.name = name
        self.procs: list[subprocess.Popen] = []
        sh("ip", "netns", "add", name)
        self.alive = True
        self.ip("link", "set", "dev", "lo", "up")

    def __repr__(self):
        return f"Netns({self.name})"

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "-n", self.name, *args, check=check)

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.name, *cmd, check=check, timeout=timeout)

    def popen(self, *cmd: str, **kw) -> subprocess.Popen:
        """Start a process inside the namespace. `ip netns exec` execs the command, so the PID
        is the command's own; the topology kills it by that PID at teardown."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name, *cmd], **kw)
        self.procs.append(p)
        return p

    def add_address(self, iface: str, addr_with_len: str):
        _check_allowed(addr_with_len)
        self.ip("addr", "add", addr_with_len, "dev", iface)

    def del_address(self, iface: str, addr_with_len: str):
        self.ip("addr", "del", addr_with_len, "dev", iface)

    def addresses(self, iface: str, family: int = 4) -> list[str]:
        """Addresses of one family on iface, as 'address/prefixlen'."""
        out = json.loads(self.ip("-j", f"-{family}", "addr", "show", "dev", iface).stdout)
        return [f"{a['local']}/{a['prefixlen']}" for link in out for a in link.get("addr_info", [])]

    def mac(self, iface: str) -> str:
        out = json.loads(self.ip("-j", "link", "show", "dev", iface).stdout)
        return out[0]["address"]

    def wait_ipv6_dad(self, iface: str, timeout: float = 10):
        """Bounded wait until no address on iface is tentative."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = json.loads(self.ip("-j", "-6", "addr", "show", "dev", iface).stdout)
            if not any(a.get("tentative") for link in out for a in link.get("addr_info", [])):
                return
            time.sleep(0.05)
        raise NetnsError(f"{self.name}/{iface}: IPv6 DAD did not finish in {timeout}s")

    def kill_procs(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        self.procs.clear()

    def delete(self):
        if not self.alive:
            return
        self.kill_procs()
        sh("ip", "netns", "del", self.name, check=False)
        self.alive = False


class Topology:
    """A server namespace and a client namespace joined by a veth pair:

        [server ns  vsN 100.64.0.1/10] <--veth--> [vcN (no address)  client ns]

    With relay=True a relay namespace sits between them, with one leg on each side:

        [server vsN 100.64.0.1/10] <--> [vrN 100.64.0.2/10  relay  vlN 100.96.0.1/16] <--> [vcN  client]

    The relay namespace forwards IPv4; what relays DHCP in it is up to the test.
    """

    def __init__(self, relay: bool = False):
        self.n = next(_counter)
        pid = os.getpid()
        self.server_if = f"vs{self.n}"
        self.client_if = f"vc{self.n}"
        self.server_ip = SERVER_IP
        self.namespaces: list[Netns] = []
        try:
            self.server = self._ns(f"nd-s-{pid}-{self.n}")
            self.client = self._ns(f"nd-c-{pid}-{self.n}")
            self.relay = None
            if relay:
                self.relay = self._ns(f"nd-r-{pid}-{self.n}")
                self.relay_server_if = f"vr{self.n}"
                self.relay_client_if = f"vl{self.n}"
                self.relay_server_ip = CLIENT_RELAY_IP
                self.relay_client_ip = "100.96.0.1"
                self._veth(self.server, self.server_if, self.relay, self.relay_server_if)
                self._veth(self.relay, self.relay_client_if, self.client, self.client_if)
                self.relay.add_address(self.relay_server_if, f"{self.relay_server_ip}/{PREFIX_LEN}")
                self.relay.add_address(self.relay_client_if, f"{self.relay_client_ip}/16")
                self.relay.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            else:
                self._veth(self.server, self.server_if, self.client, self.client_if)
            self.server.add_address(self.server_if, f"{self.server_ip}/{PREFIX_LEN}")
            for ns, ifaces in self._links():
                for iface in ifaces:
                    ns.ip("link", "set", "dev", iface, "up")
            self.server_mac = self.server.mac(self.server_if)
            self.client_mac = self.client.mac(self.client_if)
        except BaseException:
            self.destroy()
            raise

    def _ns(self, name: str) -> Netns:
        ns = Netns(name)
        self.namespaces.append(ns)
        return ns

    @staticmethod
    def _veth(a: Netns, a_if: str, b: Netns, b_if: str):
        # Made inside namespace a with its peer put straight into b: no name ever exists in
        # the host namespace, so nothing there can clash.
        a.ip("link", "add", "name", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)

    def _links(self):
        if self.relay is not None:
            return [
                (self.server, [self.server_if]),
                (self.relay, [self.relay_server_if, self.relay_client_if]),
                (self.client, [self.client_if]),
            ]
        return [(self.server, [self.server_if]), (self.client, [self.client_if])]

    def client_add_address(self, addr_with_len: str):
        """Give the client end an address, e.g. for a client in BOUND state or a relay."""
        self.client.add_address(self.client_if, addr_with_len)

    def destroy(self):
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces.clear()
