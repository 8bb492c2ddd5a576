"""Fixtures of the end-to-end tests: namespaces, the daemon, DHCP clients.

Each test gets its own namespaces (named after this process's PID and a counter), its own
daemon with its own state directory, and leaves nothing behind: teardown stops the daemons
and kills the processes it started, by PID, then deletes the namespaces it made.

Run as root (network namespaces), from the repository root:
    .venv/bin/pytest tests/e2e -v
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client import Dhcp4Client  # noqa: E402
from daemon import BINARY, Daemon  # noqa: E402
from netns import Topology  # noqa: E402


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        raise pytest.UsageError("the end-to-end tests need root (network namespaces)")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the test item, so fixtures can tell at teardown whether
    # the test failed and print the daemon's log only then.
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request) -> bool:
    for when in ("setup", "call"):
        rep = getattr(request.node, f"rep_{when}", None)
        if rep is not None and rep.failed:
            return True
    return False


@pytest.fixture
def topo():
    """A server namespace and a client namespace joined by a veth pair (see netns.Topology)."""
    t = Topology()
    yield t
    t.destroy()


@pytest.fixture
def relay_topo():
    """Server, relay and client namespaces: the relay namespace has a leg on each side."""
    t = Topology(relay=True)
    yield t
    t.destroy()


@pytest.fixture
def binary():
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing: run `cargo build --release` first (make test does)")
    return BINARY


@pytest.fixture
def start_daemon(topo, tmp_path, request, binary):
    """start_daemon(config_xml, ns=None) -> a started Daemon (READY=1 received) in the
    server namespace. Every daemon started is stopped at teardown; its log is printed
    when the test failed."""
    started: list[Daemon] = []

    def start(config_xml: str, ns=None, name: str | None = None, extra_args=(), timeout: float = 30) -> Daemon:
        d = Daemon(ns or topo.server, tmp_path / (name or f"netdhcpd{len(started)}"), config_xml, extra_args)
        started.append(d)
        return d.start(timeout=timeout)

    yield start
    crashed = []
    for d in started:
        if d.crashed():
            crashed.append(f"netdhcpd exited on its own with status {d.proc.returncode}\n{d.log_tail(120)}")
        elif _failed(request):
            print(d.log_tail(120))
        d.close()
    if crashed:
        pytest.fail("\n".join(crashed), pytrace=False)


@pytest.fixture
def client(topo) -> Dhcp4Client:
    """A DHCPv4 client on the client end of the veth pair."""
    return Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac, server_ip=topo.server_ip)


@pytest.fixture
def ha_topo():
    """Two server namespaces and a client namespace on one bridge, and a peer link straight
    between the servers (see ha.HaTopology)."""
    from ha import HaTopology

    t = HaTopology()
    yield t
    t.destroy()


@pytest.fixture
def ha_servers(ha_topo, tmp_path, request, binary):
    """ha_servers.netdhcpd(which, config_xml) / ha_servers.kea(which, config_fn) -> a started
    server on side 1 or 2 of ha_topo (see ha.HaServers). Every server is stopped at teardown,
    by PID; logs are printed when the test failed, and a server that exited on its own fails
    the test."""
    from ha import HaServers

    servers = HaServers(ha_topo, tmp_path)
    yield servers
    crashed = servers.teardown(_failed(request))
    if crashed:
        pytest.fail("\n".join(crashed), pytrace=False)
