"""Lease files move between ISC Kea 2.2 and netdhcpd, in both directions.

(a) kea-dhcp4 (Debian's kea-dhcp4-server) leases addresses to clients; netdhcpd, started on
    Kea's memfile with the same subnet id, offers every client the address Kea gave it and
    honours Kea's release.
(b) a file netdhcpd wrote (leases, renewals, releases, a decline, an expired and reclaimed
    lease) goes through Kea's own lease file cleanup, kea-lfc, with no row refused and the
    same live lease set coming out.
(c) netdhcpd loads kea-lfc's output (as leases4.csv.1, where compaction leaves it) and gives
    the same clients the same addresses.

Clients are played from the client namespace (loadtools.exchanges and the harness client);
every server runs in the server namespace and is stopped by its PID.
"""

from __future__ import annotations

import ipaddress
import random
import re
import shutil
import time
from pathlib import Path

from client import Dhcp4Client
from configs import server_xml, standard_dhcp4
from loadtools import KeaDhcp4, exchanges, live_leases, read_lease_rows, run_kea_lfc

SERVER = "100.64.0.1"


def wait_last_row(path: Path, address: str, pred, timeout: float = 5.0) -> dict:
    """Bounded poll of a memfile until the last row for address satisfies pred."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        rows = [r for r in read_lease_rows(path) if r["address"] == address]
        row = rows[-1] if rows else None
        if row is not None and pred(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"{path}: last row for {address} is {row}, not as expected after {timeout}s")


def addr_range(start: str, end: str) -> list[str]:
    a, b = int(ipaddress.IPv4Address(start)), int(ipaddress.IPv4Address(end))
    return [str(ipaddress.IPv4Address(i)) for i in range(a, b + 1)]


def offered(result) -> str | None:
    """yiaddr of an OFFER (discover result, or the offer of a dora result), else None."""
    if result is not None and "offer" in result and "message_type" not in result:
        result = result["offer"]
    if result is None or result.get("message_type") != "offer":
        return None
    return result["yiaddr"]


def acked(result) -> str | None:
    ack = result and result.get("ack")
    return ack["yiaddr"] if ack and ack.get("message_type") == "ack" else None


# ---------------------------------------------------------------- (a) Kea -> netdhcpd

KEA_SUBNET_ID = 7
KEA_PREFIX = "100.64.0.0/10"
KEA_POOL = ("100.64.2.0", "100.64.2.63")


def test_netdhcpd_serves_kea_leases(topo, start_daemon, tmp_path):
    rng = random.Random(20261127)
    pool = addr_range(*KEA_POOL)
    n = 12
    # Each client asks Kea for an address of its own choosing (Kea honours the hint when the
    # address is free), so Kea's assignment is not the pool order a fresh server would use.
    wanted = rng.sample(pool, n)
    clients = []
    for i in range(n):
        mac = f"02:00:00:4b:00:{i:02x}"
        cid = f"01:{mac}" if i % 2 == 0 else None  # half of them send a client identifier
        clients.append((mac, cid, wanted[i]))

    kea_file = tmp_path / "kea" / "kea-leases4.csv"
    kea_cfg = KeaDhcp4.config(
        topo.server_if,
        kea_file,
        [{"id": KEA_SUBNET_ID, "subnet": KEA_PREFIX, "pools": [{"pool": f"{KEA_POOL[0]} - {KEA_POOL[1]}"}],
          "option-data": [{"name": "routers", "data": SERVER}]}],  # fmt: skip
        **{"valid-lifetime": 4000, "renew-timer": 1000, "rebind-timer": 2000},
    )
    kea = KeaDhcp4(topo.server, tmp_path / "kea", kea_cfg).start()
    try:
        got = exchanges(topo.client, topo.client_if, "dora", clients, timeout=2.0)
        kea_addr = {}
        for mac, cid, _ in clients:
            a = acked(got[mac])
            assert a is not None, f"Kea gave {mac} no ACK: {got[mac]}\n{kea.log_text()[-3000:]}"
            kea_addr[mac] = a
        assert len(set(kea_addr.values())) == n
        assert sorted(kea_addr.values(), key=ipaddress.IPv4Address) != pool[:n], (
            "Kea handed out the first addresses of the pool: the test could not tell a server that ignores the file"
        )
        # One client releases its lease: Kea appends a row with valid_lifetime 0.
        rel_mac, rel_cid, _ = clients[0]
        rel_addr = kea_addr.pop(rel_mac)
        c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac, server_ip=SERVER)
        c.release(mac=rel_mac, client_id=rel_cid, ciaddr=rel_addr, server_id=SERVER)
        wait_last_row(kea_file, rel_addr, lambda r: r["valid_lifetime"] == "0")
    finally:
        assert kea.stop() == 0, kea.log_text()[-3000:]

    kea_live = live_leases(read_lease_rows(kea_file))
    assert {a: r["hwaddr"] for a, r in kea_live.items()} == {a: m for m, a in kea_addr.items()}
    assert {r["subnet_id"] for r in kea_live.values()} == {str(KEA_SUBNET_ID)}

    # netdhcpd on a copy of Kea's file, with the equivalent configuration (same subnet id).
    nd_state = tmp_path / "nd" / "state"
    nd_state.mkdir(parents=True)
    shutil.copyfile(kea_file, nd_state / "leases4.csv")
    cfg = standard_dhcp4(
        topo.server_if,
        subnet={"id": KEA_SUBNET_ID, "prefix": KEA_PREFIX, "router": SERVER,
                "pool": [{"start": KEA_POOL[0], "end": KEA_POOL[1]}]},  # fmt: skip
        valid_lifetime=4000,
        renew_timer=1000,
        rebind_timer=2000,
    )
    d = start_daemon(server_xml(dhcpv4=cfg), name="nd")
    assert d.state_dir == nd_state

    remaining = [c for c in clients if c[0] in kea_addr]
    rng.shuffle(remaining)  # in another order than Kea saw them
    # Without asking for any address: the lease alone must decide.
    got = exchanges(topo.client, topo.client_if, "dora", [(m, cid) for m, cid, _ in remaining], timeout=2.0)
    wrong = {m: (kea_addr[m], offered(got[m]), acked(got[m])) for m, _, _ in remaining
             if (offered(got[m]), acked(got[m])) != (kea_addr[m], kea_addr[m])}  # fmt: skip
    assert not wrong, f"clients not given Kea's address (mac: (kea, offered, acked)): {wrong}\n{d.log_tail(40)}"
    for m, cid, _ in remaining:
        row = d.last_lease_row(kea_addr[m])
        assert (row["hwaddr"], row["client_id"], row["subnet_id"]) == (m, cid or "", str(KEA_SUBNET_ID)), row

    # Kea's leases are taken: a newcomer asking for one is offered something else; the
    # address Kea's client released is free and the newcomer asking for it gets it.
    taken = next(iter(kea_addr.values()))
    got = exchanges(topo.client, topo.client_if, "discover",
                    [("02:00:00:4b:01:01", None, taken), ("02:00:00:4b:01:02", None, rel_addr)])  # fmt: skip
    o1, o2 = offered(got["02:00:00:4b:01:01"]), offered(got["02:00:00:4b:01:02"])
    assert o1 is not None and o1 != taken and o1 not in kea_addr.values(), f"newcomer offered {o1}"
    assert o2 == rel_addr, f"the address released under Kea ({rel_addr}) is free; newcomer asking for it got {o2}"


# ---------------------------------------------------------------- (b), (c) netdhcpd -> kea-lfc -> netdhcpd

RELAY_GIADDR = "100.112.0.1"


def history_config(iface: str) -> str:
    subnets = [
        {"id": 1, "prefix": "100.64.0.0/16", "router": SERVER, "pool": [{"start": "100.64.1.0", "end": "100.64.1.63"}]},
        # Reached through a relay (giaddr inside it); leases there last 2 s, to be reclaimed.
        {"id": 9, "prefix": "100.112.0.0/16", "router": RELAY_GIADDR, "valid-lifetime": 2, "renew-timer": 1,
         "rebind-timer": 1, "pool": [{"start": "100.112.0.10", "end": "100.112.0.20"}]},
    ]  # fmt: skip
    cfg = standard_dhcp4(iface, subnets=subnets, reclaim_interval=1, decline_probation_period=3600)
    return server_xml(dhcpv4=cfg)


def make_history(start_daemon, topo, name: str) -> dict:
    """Run netdhcpd through leases, a relayed short lease that expires and is reclaimed,
    releases, a decline and renewals; stop it. Returns what the clients did."""
    d = start_daemon(history_config(topo.server_if), name=name)
    topo.client_add_address("100.64.0.2/10")  # route to the server for the relayed exchange
    topo.client_add_address(f"{RELAY_GIADDR}/32")
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac, server_ip=SERVER)
    clients = [(f"02:00:00:1f:00:{i:02x}", f"01:02:00:00:1f:00:{i:02x}" if i % 2 == 0 else None) for i in range(8)]
    got = exchanges(topo.client, topo.client_if, "dora", clients)
    addr = {}
    for m, _ in clients:
        a = acked(got[m])
        assert a is not None, f"no ACK for {m}: {got[m]}"
        addr[m] = a
    cid = dict(clients)

    relay_mac = "02:00:00:1f:01:01"
    ack = c.lease(mac=relay_mac, giaddr=RELAY_GIADDR, relay=True)
    assert ack.lease_time == 2
    relayed = ack.yiaddr

    released = []
    for m, _ in clients[:2]:
        c.release(mac=m, client_id=cid[m], ciaddr=addr[m], server_id=SERVER)
        wait_last_row(d.lease_file(), addr[m], lambda r: r["valid_lifetime"] == "0")
        released.append(m)
    declined = clients[2][0]
    c.decline(mac=declined, client_id=cid[declined], requested=addr[declined], server_id=SERVER)
    wait_last_row(d.lease_file(), addr[declined], lambda r: r["state"] == "1")
    wait_last_row(d.lease_file(), relayed, lambda r: r["state"] == "2", timeout=15)

    # Renewals (RENEWING: unicast from ciaddr). By now the clock is past the first ACKs'
    # second, so each renewal moves expire forward.
    renewed = [m for m, _ in clients[3:5]]
    for m in renewed:
        before = d.last_lease_row(addr[m])
        r = c.request(mac=m, client_id=cid[m], ciaddr=addr[m], server_id=SERVER, unicast=True)
        assert r is not None and r.message_type == "ack" and r.yiaddr == addr[m], r and r.brief()
        after = d.last_lease_row(addr[m])
        assert int(after["expire"]) > int(before["expire"]), (before, after)
    assert d.stop() == 0, d.log_tail()

    rows = read_lease_rows(d.lease_file())
    # The file exercises every kind of row kea-lfc must understand.
    assert any(r["valid_lifetime"] == "0" for r in rows), "no deletion row"
    assert any(r["state"] == "1" for r in rows), "no declined row"
    assert any(r["state"] == "2" for r in rows), "no expired-reclaimed row"
    assert any(r["client_id"] for r in rows) and any(not r["client_id"] for r in rows)
    assert len({r["subnet_id"] for r in rows}) == 2
    assert len(rows) > len(live_leases(rows)), "no address with several rows"
    return {
        "daemon": d,
        "rows": rows,
        "addr": addr,
        "cid": cid,
        "released": released,
        "declined": declined,
        "renewed": renewed,
        "relay_mac": relay_mac,
        "relayed": relayed,
    }


LFC_STATS = re.compile(r"LFC_READ_STATS Leases: (\d+), attempts: (\d+), errors: (\d+)")


def lfc(src: Path, workdir: Path) -> tuple[Path, str]:
    """kea-lfc on a copy of src, set up as Kea's memfile would: returns the cleaned file
    (Kea's X.1, where LFC leaves its result) and kea-lfc's output."""
    workdir.mkdir(parents=True)
    base = workdir / "leases4.csv"
    shutil.copyfile(src, str(base) + ".2")
    p = run_kea_lfc(base)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"kea-lfc exited {p.returncode}:\n{out}"
    m = LFC_STATS.search(out)
    assert m, f"kea-lfc printed no read statistics:\n{out}"
    assert int(m.group(3)) == 0, f"kea-lfc refused rows of netdhcpd's file:\n{out}"
    result = Path(str(base) + ".1")
    assert result.exists(), f"kea-lfc left no {result}: {sorted(p.name for p in workdir.iterdir())}\n{out}"
    for leftover in (".2", ".output", ".completed"):
        assert not Path(str(base) + leftover).exists(), f"kea-lfc left {leftover} behind:\n{out}"
    return result, out


def test_kea_lfc_keeps_netdhcpd_leases(topo, start_daemon, tmp_path):
    h = make_history(start_daemon, topo, "history")
    ours = live_leases(h["rows"])
    cleaned, out = lfc(h["daemon"].lease_file(), tmp_path / "lfc")
    theirs_rows = read_lease_rows(cleaned)
    assert len({r["address"] for r in theirs_rows}) == len(theirs_rows), "kea-lfc output has one row per lease"
    assert all(r["valid_lifetime"] != "0" for r in theirs_rows)
    theirs = {r["address"]: r for r in theirs_rows}
    assert sorted(theirs) == sorted(ours), f"addresses differ: only ours {set(ours) - set(theirs)}, only kea-lfc's {set(theirs) - set(ours)}"
    diffs = {a: (ours[a], theirs[a]) for a in ours if ours[a] != theirs[a]}
    assert not diffs, f"leases differ after kea-lfc (ours, kea-lfc's): {diffs}"
    # And the facts themselves, as the clients left them.
    for m in h["released"]:
        assert h["addr"][m] not in theirs
    assert theirs[h["addr"][h["declined"]]]["state"] == "1"
    assert theirs[h["relayed"]]["state"] == "2"
    for m in h["renewed"]:
        assert theirs[h["addr"][m]]["hwaddr"] == m


def test_netdhcpd_loads_kea_lfc_output(topo, start_daemon, tmp_path):
    h = make_history(start_daemon, topo, "history")
    cleaned, _ = lfc(h["daemon"].lease_file(), tmp_path / "lfc")
    state = tmp_path / "after-lfc" / "state"
    state.mkdir(parents=True)
    shutil.copyfile(cleaned, state / "leases4.csv.1")
    d = start_daemon(history_config(topo.server_if), name="after-lfc")
    assert not d.lease_file().exists() or read_lease_rows(d.lease_file()) == []

    holders = [m for m in h["addr"] if m not in h["released"] and m != h["declined"]]
    got = exchanges(topo.client, topo.client_if, "discover", [(m, h["cid"][m]) for m in reversed(holders)])
    wrong = {m: (h["addr"][m], offered(got[m])) for m in holders if offered(got[m]) != h["addr"][m]}
    assert not wrong, f"clients not offered their address from kea-lfc's file (mac: (had, offered)): {wrong}\n{d.log_tail(40)}"

    # Released addresses are free; the declined one is still in probation.
    free = h["addr"][h["released"][0]]
    bad = h["addr"][h["declined"]]
    got = exchanges(topo.client, topo.client_if, "discover",
                    [("02:00:00:1f:02:01", None, free), ("02:00:00:1f:02:02", None, bad)])  # fmt: skip
    assert offered(got["02:00:00:1f:02:01"]) == free
    o = offered(got["02:00:00:1f:02:02"])
    assert o is not None and o != bad and o not in [h["addr"][m] for m in holders], f"declined {bad}, offered {o}"

    # The expired-and-reclaimed relayed lease: the same client gets its address back.
    c = Dhcp4Client(topo.client, topo.client_if, server_mac=topo.server_mac, server_ip=SERVER)
    offer = c.discover(mac=h["relay_mac"], giaddr=RELAY_GIADDR, relay=True)
    assert offer is not None and offer.message_type == "offer" and offer.yiaddr == h["relayed"], offer and offer.brief()
