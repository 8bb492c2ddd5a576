"""The DHCPv6 memfile and ISC Kea 2.2: kea-lfc -6 reads the leases6.csv netdhcpd writes
(Kea's own CSV parser accepts every row), and netdhcpd loads the file kea-lfc writes.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

from scapy.layers import dhcp6 as d6

from configs6 import server6_xml, setup_ipv6, standard_dhcp6
from dhcp6_client import V6Client, ia_addresses, ia_prefixes, opt, server_duid_of, with_ias_msg
from test_dhcp6_protocol import LEASE6_HEADER


def kea_lfc6(base: Path, timeout: float = 60.0) -> subprocess.CompletedProcess:
    b = str(base)
    cmd = ["kea-lfc", "-6", "-x", b + ".1", "-i", b + ".2", "-o", b + ".output", "-f", b + ".completed",
           "-p", b + ".pid", "-c", "/dev/null", "-d"]  # fmt: skip
    env = dict(os.environ, KEA_LOCKFILE_DIR=str(base.parent), KEA_PIDFILE_DIR=str(base.parent))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_kea_lfc_reads_our_file_and_we_load_its_output(start_daemon, topo, tmp_path):
    setup_ipv6(topo)
    d = start_daemon(server6_xml(standard_dhcp6(topo.server_if)))
    c = V6Client(topo.client, topo.client_if, topo.client_mac)
    adv = c.one(with_ias_msg(c.base(d6.DHCP6_Solicit), V6Client.ia_na(1), V6Client.ia_pd(2)))
    sid = server_duid_of(adv)
    rep = c.one(with_ias_msg(c.base(d6.DHCP6_Request, server_duid=sid), V6Client.ia_na(1), V6Client.ia_pd(2)))
    addr = ia_addresses(opt(rep, d6.DHCP6OptIA_NA))[0].addr
    prefix = ia_prefixes(opt(rep, d6.DHCP6OptIA_PD))[0]
    # A renewal adds a second row for the address: kea-lfc keeps the last.
    c.one(with_ias_msg(c.base(d6.DHCP6_Renew, server_duid=sid), V6Client.ia_na(1, [addr])))
    d.stop()

    work = tmp_path / "kea"
    work.mkdir()
    base = work / "kea-leases6.csv"
    shutil.copy(d.state_dir / "leases6.csv", str(base) + ".2")
    p = kea_lfc6(base)
    assert p.returncode == 0, p.stdout + p.stderr
    merged = Path(str(base) + ".1")
    assert merged.exists(), f"kea-lfc wrote no {merged}: {sorted(x.name for x in work.iterdir())}\n{p.stdout}{p.stderr}"
    assert merged.read_text().split("\n")[0] == LEASE6_HEADER
    by_addr = {r["address"]: r for r in rows(merged)}
    ours = {}
    for r in rows(d.state_dir / "leases6.csv"):
        ours[r["address"]] = r
    assert set(by_addr) == {addr, prefix.prefix}, by_addr
    for a in by_addr:
        for col in ("duid", "valid_lifetime", "expire", "subnet_id", "pref_lifetime", "lease_type", "iaid", "prefix_len", "state"):
            assert by_addr[a][col] == ours[a][col], (a, col, by_addr[a], ours[a])

    # Kea's file as our lease file: the leases load, the client renews its address.
    (d.state_dir / "leases6.csv").unlink()
    shutil.copy(merged, d.state_dir / "leases6.csv")
    d.start()
    r = c.one(with_ias_msg(c.base(d6.DHCP6_Renew, server_duid=sid), V6Client.ia_na(1, [addr])))
    [got] = ia_addresses(opt(r, d6.DHCP6OptIA_NA))
    assert got.addr == addr and got.validlft == 4000
