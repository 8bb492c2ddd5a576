"""Stock DHCPv6 clients against netdhcpd: ISC dhclient -6 (an address, then a delegated
prefix with -P) and Kea's perfdhcp -6 (bounded load, no drops), in network namespaces with
IPv6 inside 2001:db8::/32.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from configs6 import DNS6, POOL6, server6_xml, setup_ipv6, standard_dhcp6, standard_subnets6
from loadtools import parse_perfdhcp

CLIENT_WAIT = 30

DHCLIENT6_SCRIPT = """#!/bin/sh
# Stand-in for dhclient-script: record what dhclient passes; configure nothing.
rec="{rec_dir}/$reason.$$"
env | grep -E '^(reason|interface|new_|old_)' | sort > "$rec.tmp" && mv "$rec.tmp" "$rec"
exit 0
"""

DHCLIENT6_CONF = """timeout {timeout};
initial-interval 1;
request dhcp6.name-servers, dhcp6.domain-search;
"""


def read_record(path: Path) -> dict:
    env = {}
    for line in path.read_text().splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


def end(proc: subprocess.Popen):
    """End a client we started, by its PID: SIGTERM, bounded wait, SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_record(rec_dir: Path, names: tuple[str, ...], proc: subprocess.Popen, timeout: float = CLIENT_WAIT) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in names:
            found = [p for p in rec_dir.glob(f"{name}.*") if not p.name.endswith(".tmp")]
            if found:
                return read_record(max(found, key=lambda p: p.stat().st_mtime_ns))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    end(proc)
    out = proc.stdout.read() if proc.stdout else ""
    seen = sorted(p.name for p in rec_dir.iterdir())
    raise AssertionError(f"dhclient recorded none of {names} (records: {seen}); output:\n{out}")


def dhclient6(topo, workdir: Path, *flags: str) -> dict:
    """dhclient -6 in the foreground for one try, until its script records BOUND6; then ended
    by PID. Returns the script's record."""
    workdir.mkdir(parents=True, exist_ok=True)
    rec_dir = workdir / "records"
    rec_dir.mkdir()
    script = workdir / "script.sh"
    script.write_text(DHCLIENT6_SCRIPT.format(rec_dir=rec_dir))
    script.chmod(0o755)
    conf = workdir / "dhclient6.conf"
    conf.write_text(DHCLIENT6_CONF.format(timeout=CLIENT_WAIT - 10))
    cmd = ["dhclient", "-6", "-v", "-d", "-1", *flags, "-cf", str(conf), "-sf", str(script),
           "-lf", str(workdir / "dhclient6.leases"), "-pf", str(workdir / "dhclient6.pid"), topo.client_if]  # fmt: skip
    proc = topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        return wait_record(rec_dir, ("BOUND6",), proc)
    finally:
        end(proc)


def lease6_rows(daemon) -> list[dict]:
    import csv

    with open(daemon.state_dir / "leases6.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def daemon6(start_daemon, topo):
    setup_ipv6(topo)
    return start_daemon(server6_xml(standard_dhcp6(topo.server_if)))


def test_dhclient6_gets_an_address(daemon6, topo, tmp_path):
    env = dhclient6(topo, tmp_path / "na", "-N")
    addr = env["new_ip6_address"]
    assert addr in POOL6, env
    assert env["new_max_life"] == "4000" and env["new_preferred_life"] == "3000", env
    assert DNS6 in env.get("new_dhcp6_name_servers", ""), env
    rows = [r for r in lease6_rows(daemon6) if r["address"] == addr]
    assert rows and rows[-1]["lease_type"] == "0" and rows[-1]["valid_lifetime"] == "4000"


def test_dhclient6_gets_a_delegated_prefix(daemon6, topo, tmp_path):
    env = dhclient6(topo, tmp_path / "pd", "-P")
    prefix = ipaddress.ip_network(env["new_ip6_prefix"])
    assert prefix.prefixlen == 56
    assert prefix.subnet_of(ipaddress.ip_network("2001:db8:100::/40")), env
    rows = [r for r in lease6_rows(daemon6) if r["address"] == str(prefix.network_address)]
    assert rows and (rows[-1]["lease_type"], rows[-1]["prefix_len"]) == ("2", "56")


def test_perfdhcp6_bounded_load_without_drops(start_daemon, topo):
    setup_ipv6(topo)
    subnets = standard_subnets6(topo.server_if, pool=[{"start": "2001:db8:1::1:0", "end": "2001:db8:1::1:ffff"}])
    daemon = start_daemon(server6_xml(standard_dhcp6(topo.server_if, subnets=subnets)))
    seconds, rate, clients = 5, 200, 800
    # -W: at the end, wait up to 2 s for replies still in flight rather than count them dropped.
    cmd = ["perfdhcp", "-6", "-l", topo.client_if, "-r", str(rate), "-R", str(clients), "-p", str(seconds), "-W", "2000000"]
    p = topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        end(p)
        raise AssertionError("perfdhcp -6 did not end in time")
    stats = parse_perfdhcp(out)
    described = f"$ {' '.join(cmd)}\n{out}\n{err}"
    sa, rr = stats.get("SOLICIT-ADVERTISE"), stats.get("REQUEST-REPLY")
    assert sa and rr, described
    assert sa["sent packets"] >= rate * seconds * 0.8, described
    assert sa["drops"] == 0 and rr["drops"] == 0, described
    assert rr["received packets"] == rr["sent packets"], described
    # Every REPLY had its lease on disk first.
    # Every REPLY left after its lease row was on disk: at least one live lease per distinct
    # client perfdhcp used (it cycles through `clients` DUIDs).
    leased = {r["address"] for r in lease6_rows(daemon) if r["valid_lifetime"] != "0"}
    assert len(leased) >= min(clients, rr["received packets"]), described
    print(f"perfdhcp -6: {sa['sent packets']:.0f} SOLICIT, {rr['received packets']:.0f} REPLY, {len(leased)} leases")
