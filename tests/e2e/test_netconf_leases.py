"""Lease RPCs over NETCONF (netdhcp-server: get-leases4, get-leases6, delete-lease,
reclaim-leases, compact-lease-files) against a daemon holding thousands of leases loaded from
its lease file: paging walks every lease once in address order, filters run on the server,
bad input gets rpc-errors, and every change reaches the lease file.

Configuration: netconf_tools.nc_config (subnet 1 100.64.0.0/16).
"""

from __future__ import annotations

import csv
import ipaddress
import time
from datetime import datetime

from daemon import LEASE4_HEADER
from netconf_tools import NSMAP, nc_config, nc_env_factory  # noqa: F401

NS = "urn:netdhcp:yang:netdhcp-server"
LEASES = 5000
EXPIRED = 10
FIRST = ipaddress.IPv4Address("100.64.10.0")


def hw(i: int) -> str:
    return f"02:00:00:00:{i >> 8 & 0xff:02x}:{i & 0xff:02x}"


def write_leases(path, now: int):
    """LEASES leases from FIRST up: every 7th with a client-id, the last EXPIRED already
    expired (state 0, to be reclaimed)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LEASE4_HEADER)
        for i in range(LEASES):
            expire = now - 60 if i >= LEASES - EXPIRED else now + 3600
            client_id = f"01:{hw(i)}" if i % 7 == 0 else ""
            w.writerow([FIRST + i, hw(i), client_id, 3600, expire, 1, 0, 0, f"host-{i}", 0, ""])


def rpc(sess, name: str, body: str = ""):
    return sess.rpc(f'<{name} xmlns="{NS}">{body}</{name}>')


def leases(reply) -> list[dict]:
    out = []
    for el in reply.root.findall(f"{{{NS}}}lease"):
        out.append({etree_local(c): (c.text or "") for c in el})
    return out


def etree_local(el) -> str:
    return el.tag.split("}")[-1]


def next_of(reply) -> str | None:
    el = reply.root.find(f"{{{NS}}}next")
    return el.text if el is not None else None


def started(nc_env_factory, topo):
    env = nc_env_factory(nc_config(topo.server_if))
    env.daemon.stop()
    write_leases(env.daemon.state_dir / "leases4.csv", int(time.time()))
    env.daemon.start()
    return env, env.connect()


def test_paging_walks_every_lease_once_in_address_order(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = "<limit>1000</limit>" + (f"<after>{after}</after>" if after else "")
        r = rpc(s, "get-leases4", body)
        assert not r.errors, r.raw
        page = leases(r)
        pages += 1
        seen += [l["address"] for l in page]
        after = next_of(r)
        if after is None:
            break
        assert after == page[-1]["address"], "next is the page's last address"
        assert pages <= LEASES // 1000 + 1, "paging does not end"
    assert len(seen) == LEASES and len(set(seen)) == LEASES
    assert seen == sorted(seen, key=ipaddress.IPv4Address), "address order"
    assert seen[0] == str(FIRST)
    first = leases(rpc(s, "get-leases4", f"<address>{FIRST}</address>"))
    assert first == [
        {
            "address": str(FIRST),
            "hw-address": hw(0),
            "client-id": f"01:{hw(0)}",
            "subnet-id": "1",
            "valid-lifetime": "3600",
            "expire": first[0]["expire"],
            "state": "default",
            "hostname": "host-0",
        }
    ], first


def test_a_filter_keeping_few_of_many_leases_finds_each_of_them(nc_env_factory, topo):
    """MANY leases, more than the engine looks at for one request (it serves packets between
    requests): the three leases of one client-id, far apart, all come back in address order,
    a limit of two pages them, and no other lease comes with them."""
    many = 70_000
    spread = [5, 40_000, many - 1]
    env = nc_env_factory(nc_config(topo.server_if))
    env.daemon.stop()
    now = int(time.time())
    with open(env.daemon.state_dir / "leases4.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(LEASE4_HEADER)
        for i in range(many):
            client_id = "01:0e:0e:0e:0e:0e:0e" if i in spread else ""
            w.writerow([FIRST + i, hw(i), client_id, 3600, now + 3600, 1, 0, 0, "", 0, ""])
    env.daemon.start()
    s = env.connect()
    wanted = [str(FIRST + i) for i in spread]
    body = "<client-id>01:0e:0e:0e:0e:0e:0e</client-id>"
    r = rpc(s, "get-leases4", body)
    assert [l["address"] for l in leases(r)] == wanted and next_of(r) is None, r.raw
    first = rpc(s, "get-leases4", body + "<limit>2</limit>")
    assert [l["address"] for l in leases(first)] == wanted[:2]
    assert next_of(first) == wanted[1]
    rest = rpc(s, "get-leases4", body + f"<limit>2</limit><after>{wanted[1]}</after>")
    assert [l["address"] for l in leases(rest)] == wanted[2:] and next_of(rest) is None
    # hw() repeats every 65,536 leases: this one is held once.
    late = leases(rpc(s, "get-leases4", f"<hw-address>{hw(60_000)}</hw-address>"))
    assert [l["address"] for l in late] == [str(FIRST + 60_000)]


def test_filters_run_on_the_server(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    by_hw = leases(rpc(s, "get-leases4", f"<hw-address>{hw(1234)}</hw-address>"))
    assert [l["address"] for l in by_hw] == [str(FIRST + 1234)]
    by_cid = leases(rpc(s, "get-leases4", f"<client-id>01:{hw(14)}</client-id>"))
    assert [l["address"] for l in by_cid] == [str(FIRST + 14)]
    r = rpc(s, "get-leases4", "<subnet-id>2</subnet-id>")
    assert not r.errors and leases(r) == [] and next_of(r) is None
    subnet1 = rpc(s, "get-leases4", "<subnet-id>1</subnet-id><limit>10</limit>")
    assert len(leases(subnet1)) == 10 and next_of(subnet1) == str(FIRST + 9)
    assert leases(rpc(s, "get-leases6", "")) == [], "no DHCPv6 leases"
    # The README's netconf-console2 form.
    page = env.workdir / "page.xml"
    page.write_text(f'<get-leases4 xmlns="{NS}"><limit>3</limit></get-leases4>')
    out = env.console("--rpc", str(page)).stdout
    assert out.count("<lease ") == 3 and f">{FIRST + 2}</next>" in out, out

    e = rpc(s, "get-leases4", "<limit>0</limit>").one_error()
    assert e.tag == "invalid-value"
    e = rpc(s, "get-leases4", "<address>100.64.0.300</address>").one_error()
    assert e.tag == "invalid-value"
    e = rpc(s, "get-leases4", "<duid>00:01</duid>").one_error()
    assert e.tag == "unknown-element"
    e = rpc(s, "get-leases4", "<client-id>zz</client-id>").one_error()
    assert e.tag == "invalid-value"


def file_state(s) -> tuple[str | None, str | None]:
    """(rows, last-compaction) of the DHCPv4 lease file in the operational state."""
    data = s.get(filter=("subtree", f'<server xmlns="{NS}"><state><lease-file/></state></server>')).data
    f = "d:server/d:state/d:lease-file"
    return tuple(
        (r[0].text if r else None) for r in (data.xpath(f"{f}/d:{n}", namespaces=NSMAP) for n in ("rows", "last-compaction"))
    )


def test_delete_reclaim_and_compact_reach_the_lease_file(nc_env_factory, topo):
    env, s = started(nc_env_factory, topo)
    # The rows loaded at start are counted, and every row written after.
    assert file_state(s) == (str(LEASES), None)
    target = str(FIRST + 42)
    rpc(s, "delete-lease", f"<address>{target}</address>").assert_ok()
    assert leases(rpc(s, "get-leases4", f"<address>{target}</address>")) == []
    rows = [r for r in env.daemon.lease_rows() if r["address"] == target]
    assert rows[-1]["valid_lifetime"] == "0", "the deletion is written"
    e = rpc(s, "delete-lease", f"<address>{target}</address>").one_error()
    assert e.tag == "invalid-value" and e.app_tag == "data-missing", e
    e = rpc(s, "delete-lease", "").one_error()
    assert e.tag == "missing-element"

    r = rpc(s, "reclaim-leases")
    assert not r.errors, r.raw
    reclaimed = int(r.root.find(f"{{{NS}}}reclaimed").text)
    assert reclaimed == EXPIRED
    last = leases(rpc(s, "get-leases4", f"<address>{FIRST + LEASES - 1}</address>"))
    assert last[0]["state"] == "expired-reclaimed"
    assert file_state(s) == (str(len(env.daemon.lease_rows())), None), "loaded and written rows"
    assert len(env.daemon.lease_rows()) == LEASES + 1 + EXPIRED, "a deletion row and a row per reclaimed lease"

    before = env.daemon.lease_file().stat().st_size
    rpc(s, "compact-lease-files").assert_ok()
    # Kea's file set: the compacted leases in leases4.csv.1, a fresh leases4.csv for new rows.
    compacted = env.daemon.lease_file().with_name("leases4.csv.1")
    with open(compacted, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == LEASES - 1, "one row per lease left, the deleted one gone"
    assert len({r["address"] for r in rows}) == LEASES - 1
    assert env.daemon.lease_rows() == [], "new rows start a fresh file"
    assert compacted.stat().st_size < before
    rows, last_compaction = file_state(s)
    assert rows == str(LEASES - 1) and last_compaction is not None, "rows are what the compaction wrote"
    assert abs(time.time() - datetime.fromisoformat(last_compaction.replace("Z", "+00:00")).timestamp()) < 30

    env.daemon.restart()
    s = env.connect()
    assert file_state(s) == (str(LEASES - 1), None), "a restart loads the compacted rows; no compaction yet"
    walked = 0
    after = None
    while True:
        r = rpc(s, "get-leases4", "<limit>10000</limit>" + (f"<after>{after}</after>" if after else ""))
        walked += len(leases(r))
        after = next_of(r)
        if after is None:
            break
    assert walked == LEASES - 1, "the compacted file loads every lease but the deleted one"


def test_set_lease4_repairs_a_lease_the_client_then_gets(nc_env_factory, topo):
    """set-lease4 places a lease in its subnet: it is listed, written, and the client of that
    hardware address is offered and ACKed exactly that address. Input is checked."""
    from client import Dhcp4Client
    from netconf_tools import PRL

    env = nc_env_factory(nc_config(topo.server_if))
    s = env.connect()
    mac = "02:00:00:00:aa:01"
    rpc(
        s,
        "set-lease4",
        f"<address>100.64.1.50</address><hw-address>{mac}</hw-address><hostname>fixed</hostname>"
        "<valid-lifetime>7200</valid-lifetime>",
    ).assert_ok()
    listed = leases(rpc(s, "get-leases4", "<address>100.64.1.50</address>"))
    assert [(l["hw-address"], l["subnet-id"], l["valid-lifetime"], l["hostname"]) for l in listed] == [
        (mac, "1", "7200", "fixed")
    ]
    row = [r for r in env.daemon.lease_rows() if r["address"] == "100.64.1.50"][-1]
    assert (row["hwaddr"], row["valid_lifetime"], row["hostname"]) == (mac, "7200", "fixed")

    ack = Dhcp4Client(topo.client, topo.client_if).lease(mac=mac, prl=PRL)
    assert ack.yiaddr == "100.64.1.50", "the client gets the repaired lease's address"

    e = rpc(s, "set-lease4", f"<address>100.99.0.1</address><hw-address>{mac}</hw-address>").one_error()
    assert e.tag == "invalid-value" and "no configured DHCPv4 subnet" in (e.message or ""), e
    e = rpc(s, "set-lease4", "<address>100.64.1.51</address>").one_error()
    assert e.tag == "missing-element", e
    e = rpc(s, "set-lease4", f"<address>100.64.1.51</address><hw-address>{mac}</hw-address><valid-lifetime>0</valid-lifetime>").one_error()
    assert e.tag == "invalid-value", e
