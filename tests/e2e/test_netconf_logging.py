"""Log levels in the datastore: /server/logging changes what the daemon logs at the commit,
without a restart, for the whole daemon or one part of it; removing it restores the level the
daemon was started with. The daemon here starts at RUST_LOG=info (tests/e2e/daemon.py).

A rejected RPC is logged at debug level by the NETCONF datastore task (target
netdhcpd::northbound::actor, message "rpc-error"): the probe used below.
"""

from __future__ import annotations

import pytest

from netconf_tools import nc_config, nc_env_factory, ndhcp  # noqa: F401 (fixture)

PROBE = "rpc-error"


@pytest.fixture
def env(nc_env_factory, topo):
    return nc_env_factory(nc_config(topo.server_if))


def log_text(env) -> str:
    return env.daemon.log_path.read_text(errors="replace")


def probe_logged(env, s) -> bool:
    """Sends an RPC the datastore rejects and says whether its debug line reached the log.
    The rpc-reply is sent after the line is written, so the log is complete when it arrives."""
    before = log_text(env).count(PROBE)
    e = s.edit(ndhcp("<no-such-leaf>1</no-such-leaf>")).one_error()
    assert e.tag == "unknown-element", e
    s.config_data()  # a second round trip: the first one's log line is surely written
    return log_text(env).count(PROBE) > before


def test_level_changes_at_commit_and_reverts_when_removed(env):
    s = env.connect()
    assert not probe_logged(env, s), "info: the debug line is not logged"

    s.edit_commit(ndhcp("<logging><level>debug</level></logging>"))
    assert "log levels changed" in log_text(env)
    assert probe_logged(env, s), "debug for the whole daemon"

    s.edit_commit(ndhcp('<logging nc:operation="delete"/>'))
    assert not probe_logged(env, s), "the start level (info) again"


def test_one_part_at_its_own_level(env):
    s = env.connect()
    s.edit_commit(ndhcp(
        "<logging><level>warn</level>"
        "<target><name>netdhcpd::northbound</name><level>debug</level></target></logging>"
    ))  # fmt: skip
    assert probe_logged(env, s), "the datastore task's module is at debug"

    s.edit_commit(ndhcp(
        "<logging><target><name>netdhcpd::northbound</name><level>error</level></target></logging>"
    ))  # fmt: skip
    assert not probe_logged(env, s), "and back to error"
    running = s.get_config(source="running", filter=("subtree", ndhcp("<logging/>"))).data
    assert running.xpath("//*[local-name()='target']/*[local-name()='level']/text()") == ["error"]


def test_a_bad_target_name_is_refused_with_its_path(env):
    s = env.connect()
    e = s.edit(ndhcp("<logging><target><name>not a module</name><level>debug</level></target></logging>")).one_error()
    assert (e.type, e.tag) == ("application", "invalid-value"), e
    assert "target" in (e.path or "") or "name" in (e.path or ""), e
