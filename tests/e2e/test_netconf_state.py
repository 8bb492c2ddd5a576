"""Operational state over NETCONF (`/server/state` of netdhcp-server): counters and address use
follow what the server did on the wire.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99).
"""

from __future__ import annotations

from client import Dhcp4Client, mac
from netconf_tools import PRL, leaf, nc_config, nc_env_factory, ndhcp, wait_for  # noqa: F401

STATE = ndhcp("<state/>")


def state(sess):
    return sess.get(filter=("subtree", STATE)).data


def test_counters_and_pool_use_follow_the_wire(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    pool = "d:server/d:state/d:dhcpv4/d:subnet[d:id='1']/d:pool[d:start='100.64.1.0']"
    # The engine publishes address use when it takes up a configuration.
    wait_for(lambda: leaf(state(s), f"{pool}/d:total") is not None, timeout=10, what="pool use published")
    before = state(s)
    assert leaf(before, "d:server/d:state/d:version")
    assert leaf(before, "d:server/d:state/d:lease-file/d:path").endswith("leases4.csv")
    assert leaf(before, f"{pool}/d:end") == "100.64.1.99"
    assert leaf(before, f"{pool}/d:total") == "100"
    assert leaf(before, f"{pool}/d:in-use") == "0"
    assert leaf(before, "d:server/d:state/d:dhcpv4/d:counters/d:ack") == "0"

    client = Dhcp4Client(topo.client, topo.client_if)
    for i in range(3):
        ack = client.lease(mac=mac(i), prl=PRL)
        assert ack.yiaddr.startswith("100.64.1.")

    counters = "d:server/d:state/d:dhcpv4/d:counters"
    after = state(s)
    assert leaf(after, f"{counters}/d:discover") == "3"
    assert leaf(after, f"{counters}/d:request") == "3"
    assert leaf(after, f"{counters}/d:offer") == "3"
    assert leaf(after, f"{counters}/d:ack") == "3"
    assert leaf(after, f"{counters}/d:malformed") == "0"
    # Address use is published every two seconds by the engine.
    wait_for(lambda: leaf(state(s), f"{pool}/d:in-use") == "3", timeout=10, what="in-use reaches 3")
    now = state(s)
    assert leaf(now, f"{pool}/d:free") == "97"
    assert leaf(now, "d:server/d:state/d:dhcpv4/d:leases") == "3"
    assert int(leaf(now, "d:server/d:state/d:lease-file/d:size")) > 0

    # State is not configuration: get-config never shows it.
    assert leaf(s.config_data("running"), "d:server/d:state/d:version") is None
