"""The Prometheus endpoint (`[metrics]` in the start-up settings): off by default; when on, on
loopback, `GET /metrics` gives the counters of the operational state in text format, and they
follow what the server did on the wire.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99).
"""

from __future__ import annotations

import re

from client import Dhcp4Client, mac
from netconf_tools import PRL, nc_config, nc_env_factory, settings_toml, wait_for  # noqa: F401

URL = "http://127.0.0.1:9410/metrics"


def scrape(ns) -> str:
    return ns.run("curl", "-s", "--max-time", "5", URL).stdout


def sample(page: str, series: str) -> float:
    m = re.search(rf"^{re.escape(series)} (\S+)$", page, re.M)
    assert m, f"{series} not in the page:\n{page}"
    return float(m.group(1))


def test_metrics_follow_the_wire(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if), settings=settings_toml() + "\n[metrics]\nenabled = true\n")
    page = scrape(topo.server)
    assert "# TYPE netdhcp_dhcp4_sent_total counter" in page
    assert sample(page, 'netdhcp_dhcp4_sent_total{type="ack"}') == 0
    client = Dhcp4Client(topo.client, topo.client_if)
    leased = [client.lease(mac=mac(i), prl=PRL).yiaddr for i in range(2)]
    assert all(a.startswith("100.64.1.") for a in leased)
    page = scrape(topo.server)
    assert sample(page, 'netdhcp_dhcp4_received_total{type="discover"}') == 2
    assert sample(page, 'netdhcp_dhcp4_sent_total{type="offer"}') == 2
    assert sample(page, 'netdhcp_dhcp4_sent_total{type="ack"}') == 2
    assert sample(page, 'netdhcp_dhcp4_dropped_total{reason="malformed"}') == 0
    assert sample(page, "netdhcp_lease_file_bytes") > 0
    rows = len(env.daemon.lease_rows())
    assert rows >= 2 and sample(page, 'netdhcp_lease_file_rows{family="dhcp4"}') == rows
    assert sample(page, 'netdhcp_lease_file_rows{family="dhcp6"}') == 0
    assert "netdhcp_lease_file_last_compaction_seconds{" not in page, "no compaction since start"

    # A DHCPDECLINE: the pool's declined series counts the address, in-use still includes it.
    pool = 'netdhcp_dhcp4_pool_addresses{subnet="1",pool="100.64.1.0",state="%s"}'
    assert client.decline(mac=mac(1), requested=leased[1], server_id="100.64.0.1", timeout=0.5) is None
    wait_for(lambda: sample(scrape(topo.server), pool % "declined") == 1, timeout=10, what="declined series at 1")
    page = scrape(topo.server)
    assert (sample(page, pool % "in-use"), sample(page, pool % "total")) == (2, 100)
    other = topo.server.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                            "http://127.0.0.1:9410/other").stdout  # fmt: skip
    assert other == "404"


def test_metrics_are_off_by_default(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    r = topo.server.run("curl", "-s", "--max-time", "5", URL, check=False)
    assert r.returncode == 7, f"connection refused expected, curl said {r.returncode}: {r.stdout}"
