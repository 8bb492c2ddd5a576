"""The Prometheus endpoint (`[metrics]` in the start-up settings): off by default; when on, on
loopback, `GET /metrics` gives the counters of the operational state in text format, and they
follow what the server did on the wire.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16, pool 100.64.1.0-99).
"""

from __future__ import annotations

import re

from client import Dhcp4Client, mac
from netconf_tools import PRL, nc_config, nc_env_factory, settings_toml  # noqa: F401

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
    for i in range(2):
        assert client.lease(mac=mac(i), prl=PRL).yiaddr.startswith("100.64.1.")
    page = scrape(topo.server)
    assert sample(page, 'netdhcp_dhcp4_received_total{type="discover"}') == 2
    assert sample(page, 'netdhcp_dhcp4_sent_total{type="offer"}') == 2
    assert sample(page, 'netdhcp_dhcp4_sent_total{type="ack"}') == 2
    assert sample(page, 'netdhcp_dhcp4_dropped_total{reason="malformed"}') == 0
    assert sample(page, "netdhcp_lease_file_bytes") > 0
    other = topo.server.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                            "http://127.0.0.1:9410/other").stdout  # fmt: skip
    assert other == "404"


def test_metrics_are_off_by_default(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    r = topo.server.run("curl", "-s", "--max-time", "5", URL, check=False)
    assert r.returncode == 7, f"connection refused expected, curl said {r.returncode}: {r.stdout}"
