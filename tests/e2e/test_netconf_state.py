"""Operational state over NETCONF (`/server/state` of netdhcp-server): counters and address use
follow what the server did on the wire.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99).
"""

from __future__ import annotations

from client import Dhcp4Client, mac
from netconf_tools import NSMAP, PRL, leaf, nc_config, nc_env_factory, ndhcp, wait_for  # noqa: F401

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


def data_rows(path) -> int:
    """Lease rows of a memfile (its header excluded); 0 when the file does not exist."""
    if not path.exists():
        return 0
    return max(len(path.read_text().splitlines()) - 1, 0)


def test_a_declined_address_is_counted_in_its_pool(nc_env_factory, topo):
    """A DHCPDECLINE puts the address on probation: `declined` of its pool becomes 1 and the
    address stays counted in in-use."""
    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    pool = "d:server/d:state/d:dhcpv4/d:subnet[d:id='1']/d:pool[d:start='100.64.1.0']"
    wait_for(lambda: leaf(state(s), f"{pool}/d:total") is not None, timeout=10, what="pool use published")
    assert leaf(state(s), f"{pool}/d:declined") == "0"

    client = Dhcp4Client(topo.client, topo.client_if)
    kept = client.lease(mac=mac(1), prl=PRL).yiaddr
    declined = client.lease(mac=mac(2), prl=PRL).yiaddr
    assert kept != declined
    assert client.decline(mac=mac(2), requested=declined, server_id="100.64.0.1", timeout=0.5) is None, (
        "DHCPDECLINE gets no reply"
    )
    wait_for(lambda: leaf(state(s), f"{pool}/d:declined") == "1", timeout=10, what="declined reaches 1")
    now = state(s)
    assert (leaf(now, f"{pool}/d:in-use"), leaf(now, f"{pool}/d:free")) == ("2", "98"), (
        "the declined address stays in use"
    )
    assert leaf(now, "d:server/d:state/d:dhcpv4/d:counters/d:decline") == "1"
    subnet = "d:server/d:state/d:dhcpv4/d:subnet[d:id='1']"
    pools = now.xpath(f"{subnet}/d:pool", namespaces=NSMAP)
    assert [
        sum(int(leaf(p, f"d:{n}")) for p in pools) for n in ("total", "in-use", "declined", "free")
    ] == [int(leaf(now, f"{subnet}/d:{n}")) for n in ("total", "in-use", "declined", "free")], (
        "the subnet's leaves are its pools' sums"
    )
    assert leaf(now, f"{subnet}/d:declined") == "1"
    assert int(leaf(now, "d:server/d:state/d:uptime")) >= 0
    assert env.daemon.last_lease_row(declined)["state"] == "1", "the memfile holds it declined"


def test_lease_file_rows_follow_writes_and_compaction(nc_env_factory, topo):
    """`rows` of both lease files counts the rows in the file as they are written; the
    compact-lease-files RPC resets it to what the compaction wrote and sets last-compaction."""
    import datetime

    from test_netconf_leases import rpc

    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    v4 = env.daemon.lease_file()
    v6 = env.daemon.state_dir / "leases6.csv"
    files = "d:server/d:state/d:lease-file"
    before = state(s)
    assert leaf(before, f"{files}6/d:path") == str(v6)
    assert leaf(before, f"{files}/d:last-compaction") is None, "no compaction since start"
    assert leaf(before, f"{files}6/d:last-compaction") is None

    client = Dhcp4Client(topo.client, topo.client_if)
    for i in range(3):
        client.lease(mac=mac(i), prl=PRL)
    # The same client again: a renewal appends a second row for its address.
    client.lease(mac=mac(0), prl=PRL)
    written = state(s)
    assert int(leaf(written, f"{files}/d:rows")) == data_rows(v4) >= 4, "an ACK leaves after its row is written"
    assert leaf(written, f"{files}6/d:rows") == str(data_rows(v6))

    started = datetime.datetime.now(datetime.timezone.utc)
    rpc(s, "compact-lease-files").assert_ok()
    compacted = state(s)
    # One row per lease in leases4.csv.1, a fresh leases4.csv (header only).
    assert data_rows(v4.with_name("leases4.csv.1")) == 3 and data_rows(v4) == 0
    assert leaf(compacted, f"{files}/d:rows") == "3"
    assert leaf(compacted, f"{files}6/d:rows") == str(data_rows(v6.with_name("leases6.csv.1")) + data_rows(v6))
    for name in ("lease-file", "lease-file6"):
        text = leaf(compacted, f"d:server/d:state/d:{name}/d:last-compaction")
        assert text is not None, name
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert started - datetime.timedelta(seconds=2) <= when <= started + datetime.timedelta(seconds=30), (name, text)

    # Rows written after the compaction add to it.
    client.lease(mac=mac(1), prl=PRL)
    assert leaf(state(s), f"{files}/d:rows") == str(3 + data_rows(v4)) == "4"
