"""DHCPv6 leases move from ISC Kea 2.2 to netdhcpd.

kea-dhcp6 (Debian's kea-dhcp6-server) runs in the server namespace and gives each of N
clients (a DUID and IAIDs of its own) an address (IA_NA) and a delegated prefix (IA_PD),
persisting them in its memfile. Kea is stopped by its PID; netdhcpd starts on a copy of
Kea's leases6 file with the equivalent configuration (same subnet id, pools, lifetimes) and
must advertise and reply to every client the address and the prefix Kea gave it. The rows
netdhcpd then appends to the file are in Kea's header and column format.

Clients are played from the client namespace with the harness's scapy DHCPv6 client; every
server runs in the server namespace and is stopped by its PID.
"""

from __future__ import annotations

import csv
import ipaddress
import random
import re
import shutil
from pathlib import Path

from scapy.layers import dhcp6 as d6

from configs6 import server6_xml, setup_ipv6, standard_dhcp6
from dhcp6_client import V6Client, ia_addresses, ia_prefixes, server_duid_of, status_of, with_ias_msg
from loadtools import KeaServer
from test_dhcp6_protocol import LEASE6_HEADER

SUBNET_ID = 23
SUBNET = "2001:db8:1::/64"
POOL = ("2001:db8:1::100", "2001:db8:1::13f")  # 64 addresses
PD_POOL = ("2001:db8:100::", 40, 56)  # 65536 /56 prefixes
LIFETIMES = {"preferred-lifetime": 3000, "valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000}
N = 10


class KeaDhcp6(KeaServer):
    """kea-dhcp6 (see loadtools.KeaServer); its server DUID goes to the work folder too."""

    program = "kea-dhcp6"
    started = "DHCP6_STARTED"


def kea6_config(iface: str, workdir: Path, lease_file: Path) -> dict:
    return {
        "Dhcp6": {
            "interfaces-config": {"interfaces": [iface]},
            # The server DUID file (kea-dhcp6-serverid) goes here, not to /var/lib/kea.
            "data-directory": str(workdir),
            "lease-database": {"type": "memfile", "persist": True, "name": str(lease_file), "lfc-interval": 0},
            **LIFETIMES,
            "subnet6": [
                {
                    "id": SUBNET_ID,
                    "subnet": SUBNET,
                    "interface": iface,
                    "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}],
                    "pd-pools": [{"prefix": PD_POOL[0], "prefix-len": PD_POOL[1], "delegated-len": PD_POOL[2]}],
                }
            ],
            "loggers": [{"name": "kea-dhcp6", "output_options": [{"output": "stdout"}], "severity": "INFO"}],
        }
    }


def netdhcpd_config(iface: str) -> str:
    subnet = {
        "id": SUBNET_ID,
        "prefix": SUBNET,
        "interface": iface,
        "pool": [{"start": POOL[0], "end": POOL[1]}],
        "pd-pool": [{"prefix": f"{PD_POOL[0]}/{PD_POOL[1]}", "delegated-length": PD_POOL[2]}],
    }
    cfg = standard_dhcp6(iface, subnets=[subnet])
    for k, v in LIFETIMES.items():
        assert cfg[k] == v, (k, cfg[k], v)
    return server6_xml(cfg)


def read_rows6(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header line, rows as field lists) of a leases6 memfile; rows keep their raw text."""
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        return header, list(r)


def as_dicts(header: list[str], rows: list[list[str]]) -> list[dict]:
    return [dict(zip(header, fields)) for fields in rows]


def live6(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(lease_type, address) -> last row, rows with valid_lifetime 0 deleting."""
    live: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["lease_type"], r["address"])
        if int(r["valid_lifetime"]) == 0:
            live.pop(key, None)
        else:
            live[key] = r
    return live


def duid_hex(duid) -> str:
    return ":".join(f"{b:02x}" for b in bytes(duid))


class Client:
    def __init__(self, topo, i: int):
        mac = f"02:00:00:6b:00:{i:02x}"
        self.v6 = V6Client(topo.client, topo.client_if, mac)
        self.name = mac
        self.iaid_na = 0x100 + i * 7
        self.iaid_pd = 0x200 + i * 11

    def solicit(self, addr_hint=None, prefix_hint=None):
        na = V6Client.ia_na(self.iaid_na, [addr_hint] if addr_hint else [])
        pd = V6Client.ia_pd(self.iaid_pd, [prefix_hint] if prefix_hint else [])
        return self.v6.one(with_ias_msg(self.v6.base(d6.DHCP6_Solicit), na, pd))

    def request(self, sid, addr, prefix):
        na = V6Client.ia_na(self.iaid_na, [addr] if addr else [])
        pd = V6Client.ia_pd(self.iaid_pd, [prefix] if prefix else [])
        return self.v6.one(with_ias_msg(self.v6.base(d6.DHCP6_Request, server_duid=sid), na, pd))


def granted(msg, iaid_na: int, iaid_pd: int) -> tuple[str | None, tuple[str, int] | None]:
    """(address, (prefix, length)) granted in msg's IA_NA / IA_PD with the given IAIDs."""
    addr = prefix = None
    if msg is None:
        return None, None
    for ia in [o for o in iter_opts(msg) if type(o) is d6.DHCP6OptIA_NA and o.iaid == iaid_na]:
        if status_of(ia) in (None, 0):
            got = [a for a in ia_addresses(ia) if a.validlft > 0]
            if len(got) == 1:
                addr = str(ipaddress.IPv6Address(got[0].addr))
    for ia in [o for o in iter_opts(msg) if type(o) is d6.DHCP6OptIA_PD and o.iaid == iaid_pd]:
        if status_of(ia) in (None, 0):
            got = [p for p in ia_prefixes(ia) if p.validlft > 0]
            if len(got) == 1:
                prefix = (str(ipaddress.IPv6Address(got[0].prefix)), got[0].plen)
    return addr, prefix


def iter_opts(msg):
    p = msg.payload
    while p is not None and p.__class__.__name__ != "NoPayload":
        yield p
        p = p.payload


def kind(msg) -> str | None:
    return None if msg is None else type(msg).__name__


def test_netdhcpd_serves_kea_dhcp6_leases(topo, start_daemon, tmp_path):
    setup_ipv6(topo)
    rng = random.Random(20261127)
    clients = [Client(topo, i) for i in range(N)]
    # Each client hints an address and a prefix of its own choosing (Kea grants a free hint
    # in the pool), so Kea's assignment is not the pool order a fresh server would follow.
    lo, hi = (int(ipaddress.IPv6Address(a)) for a in POOL)
    addr_hints = [str(ipaddress.IPv6Address(lo + k)) for k in rng.sample(range(hi - lo + 1), N)]
    pd_base = int(ipaddress.IPv6Address(PD_POOL[0]))
    step = 1 << (128 - PD_POOL[2])
    pd_hints = [(str(ipaddress.IPv6Address(pd_base + k * step)), PD_POOL[2])
                for k in rng.sample(range(1, 4096), N)]  # fmt: skip

    kea_dir = tmp_path / "kea"
    kea_dir.mkdir()
    kea_file = kea_dir / "kea-leases6.csv"
    kea = KeaDhcp6(topo.server, kea_dir, kea6_config(topo.server_if, kea_dir, kea_file)).start()
    kea_addr: dict[str, str] = {}
    kea_pd: dict[str, tuple[str, int]] = {}
    try:
        for c, ah, ph in zip(clients, addr_hints, pd_hints):
            adv = c.solicit(ah, ph)
            assert kind(adv) == "DHCP6_Advertise", f"Kea: {c.name} SOLICIT -> {kind(adv)}\n{kea.log_text()[-3000:]}"
            sid = server_duid_of(adv)
            a, p = granted(adv, c.iaid_na, c.iaid_pd)
            assert a and p, f"Kea advertised {c.name} {a}, {p}: {adv.show(dump=True)}"
            rep = c.request(sid, a, p)
            assert kind(rep) == "DHCP6_Reply", f"Kea: {c.name} REQUEST -> {kind(rep)}\n{kea.log_text()[-3000:]}"
            ra, rp = granted(rep, c.iaid_na, c.iaid_pd)
            assert (ra, rp) == (a, p), f"Kea replied {c.name} {ra}, {rp} after advertising {a}, {p}"
            kea_addr[c.name], kea_pd[c.name] = ra, rp
    finally:
        rc = kea.stop()
    assert rc == 0, f"kea-dhcp6 exited {rc} on SIGTERM:\n{kea.log_text()[-3000:]}"

    assert len(set(kea_addr.values())) == N and len(set(kea_pd.values())) == N
    pool_order = [str(ipaddress.IPv6Address(lo + k)) for k in range(N)]
    assert sorted(kea_addr.values(), key=ipaddress.IPv6Address) != pool_order, (
        "Kea handed out the first addresses of the pool: the test could not tell a server that ignores the file"
    )

    # Kea's file: its header is the one netdhcpd writes, and it holds exactly these leases.
    kea_text = kea_file.read_text()
    kea_header, kea_raw = read_rows6(kea_file)
    assert ",".join(kea_header) == LEASE6_HEADER, f"Kea 2.2 wrote header {kea_header}"
    assert all(len(r) == len(kea_header) for r in kea_raw), kea_text
    kea_rows = as_dicts(kea_header, kea_raw)
    kea_live = live6(kea_rows)
    want = {}  # (lease_type, address) -> (duid, iaid, prefix_len); type 0 is IA_NA, 2 is IA_PD
    for c in clients:
        duid = duid_hex(c.v6.duid)
        want[("0", kea_addr[c.name])] = (duid, str(c.iaid_na), "128")
        want[("2", kea_pd[c.name][0])] = (duid, str(c.iaid_pd), str(kea_pd[c.name][1]))
    assert {k: (r["duid"], r["iaid"], r["prefix_len"]) for k, r in kea_live.items()} == want, kea_text
    assert {r["subnet_id"] for r in kea_live.values()} == {str(SUBNET_ID)}

    # netdhcpd on a copy of Kea's file, with the equivalent configuration.
    nd_state = tmp_path / "nd" / "state"
    nd_state.mkdir(parents=True)
    shutil.copyfile(kea_file, nd_state / "leases6.csv")
    d = start_daemon(netdhcpd_config(topo.server_if), name="nd")
    assert d.state_dir == nd_state
    nd_file = nd_state / "leases6.csv"

    order = list(clients)
    rng.shuffle(order)  # in another order than Kea saw them
    wrong = {}
    for c in order:
        # No hints: the lease alone must decide.
        adv = c.solicit()
        if kind(adv) != "DHCP6_Advertise":
            wrong[c.name] = ("SOLICIT ->", kind(adv))
            continue
        a, p = granted(adv, c.iaid_na, c.iaid_pd)
        # The REQUEST carries what was advertised, as a client does.
        rep = c.request(server_duid_of(adv), a, p)
        ra, rp = granted(rep, c.iaid_na, c.iaid_pd) if kind(rep) == "DHCP6_Reply" else (None, None)
        if (a, p, ra, rp) != (kea_addr[c.name], kea_pd[c.name], kea_addr[c.name], kea_pd[c.name]):
            wrong[c.name] = {"kea": (kea_addr[c.name], kea_pd[c.name]), "advertised": (a, p),
                             "replied": (kind(rep), ra, rp)}  # fmt: skip
    assert not wrong, f"clients not given Kea's leases by netdhcpd: {wrong}\n{d.log_tail(60)}"

    # A newcomer asking for an address and a prefix Kea leased is given others.
    taken_a, taken_p = kea_addr[clients[0].name], kea_pd[clients[0].name]
    newcomer = Client(topo, 0x80)
    adv = newcomer.solicit(taken_a, taken_p)
    assert kind(adv) == "DHCP6_Advertise", kind(adv)
    na, npfx = granted(adv, newcomer.iaid_na, newcomer.iaid_pd)
    assert na is not None and na not in kea_addr.values(), f"newcomer advertised {na}; Kea's: {kea_addr}"
    assert npfx is not None and npfx not in kea_pd.values(), f"newcomer advertised {npfx}; Kea's: {kea_pd}"

    d.stop()

    # The rows netdhcpd appended: Kea's file is kept as it was, the header is unchanged, and
    # each new row has Kea's columns, formatted as Kea formatted the same lease.
    nd_text = nd_file.read_text()
    assert nd_text.startswith(kea_text), f"netdhcpd rewrote Kea's rows:\n--- kea\n{kea_text}\n--- netdhcpd\n{nd_text}"
    nd_header, nd_raw = read_rows6(nd_file)
    assert nd_header == kea_header
    new_raw = nd_raw[len(kea_raw):]
    assert all(len(r) == len(kea_header) for r in new_raw), new_raw
    new_rows = as_dicts(nd_header, new_raw)
    assert new_rows, "netdhcpd appended no row for the REQUESTs it answered"
    new_live = live6(new_rows)
    assert set(new_live) == set(kea_live), f"leases netdhcpd wrote: {sorted(new_live)}; Kea's: {sorted(kea_live)}"
    int_re = re.compile(r"^(0|[1-9][0-9]*)$")
    for key, r in new_live.items():
        k = kea_live[key]
        for col in ("address", "duid", "valid_lifetime", "subnet_id", "pref_lifetime", "lease_type", "iaid",
                    "prefix_len", "fqdn_fwd", "fqdn_rev", "hostname", "state", "user_context"):  # fmt: skip
            assert r[col] == k[col], f"{key} column {col}: netdhcpd {r[col]!r}, Kea {k[col]!r}\n{r}\n{k}"
        assert int_re.match(r["expire"]) and int(r["expire"]) >= int(k["expire"]), (r, k)
        for col in ("hwtype", "hwaddr_source"):
            assert int_re.match(r[col]) or (r[col] == "" and k[col] == ""), (col, r, k)
        assert re.fullmatch(r"([0-9a-f]{2}(:[0-9a-f]{2})*)?", r["hwaddr"]), r
