"""Stock DHCPv4 clients against netdhcpd: ISC dhclient (isc-dhcp-client) and busybox udhcpc.

Each client runs in the client namespace with a script of ours in place of its usual
configuration script: the script records what the client learned from the server (the
variables the client passes it) into a file, and puts the leased address on the interface
(so that a later unicast RELEASE has a route to the server). Every client is started by this
module, bounded in time, and ended by its PID.

Configuration: configs.standard_config (pool 100.64.1.0 - 100.64.1.9 in 100.64.0.0/10, router,
DNS server, domain name, domain search, option 42, lifetimes 4000/1000/2000).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from configs import POOL, standard_dhcp4, standard_subnet, server_xml

SERVER = "100.64.0.1"
CLIENT_WAIT = 30  # seconds any one client run may take


@pytest.fixture
def cfg(topo):
    """The standard DHCPv4 configuration as data, so the assertions read their expected
    values from the very configuration the daemon was given."""
    return standard_dhcp4(topo.server_if, subnet=standard_subnet())


@pytest.fixture
def daemon(start_daemon, cfg):
    return start_daemon(server_xml(dhcpv4=cfg))


def expected(cfg: dict) -> dict:
    subnet = cfg["subnet"][0]
    net = ipaddress.ip_network(subnet["prefix"])
    ntp = [o for o in subnet["option"] if o["code"] == 42][0]["value"]
    return {
        "mask": str(net.netmask),
        "prefixlen": net.prefixlen,
        "router": subnet["router"],
        "dns": cfg["dns-server"],
        "domain": cfg["domain-name"],
        "search": cfg["domain-search"],
        "ntp": ntp,
        "lease": cfg["valid-lifetime"],
        "t1": cfg["renew-timer"],
        "t2": cfg["rebind-timer"],
        "subnet_id": str(subnet["id"]),
    }


# ---------------------------------------------------------------- helpers


def read_record(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = value
    return out


def wait_record(rec_dir: Path, names: tuple[str, ...], proc: subprocess.Popen | None, timeout: float = CLIENT_WAIT) -> dict:
    """Bounded wait for the script to record one of the events `names` (the script writes
    each record atomically). Fails early when the client exits without it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in names:
            found = [p for p in rec_dir.glob(f"{name}.*") if not p.name.endswith(".tmp")]
            if found:
                return read_record(max(found, key=lambda p: p.stat().st_mtime_ns))
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    seen = sorted(p.name for p in rec_dir.iterdir())
    out = ""
    if proc is not None:
        end(proc)
        out = proc.stdout.read() if proc.stdout else ""
    raise AssertionError(f"the client recorded none of {names} (records: {seen}); client output:\n{out}")


def end(proc: subprocess.Popen):
    """End a client we started, by its PID: SIGTERM, bounded wait, SIGKILL."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_row(daemon, address: str, pred, timeout: float = 5.0) -> dict:
    """Bounded poll of the lease file until the last row for address satisfies pred."""
    deadline = time.monotonic() + timeout
    row = None
    while time.monotonic() < deadline:
        row = daemon.last_lease_row(address)
        if row is not None and pred(row):
            return row
        time.sleep(0.05)
    raise AssertionError(f"lease file: last row for {address} is {row}, not as expected after {timeout}s")


def wait_next_second(after: int, timeout: float = 3.0):
    """Bounded wait until the wall clock is past second `after`, so that a renewal's expire
    (now + valid lifetime, in whole seconds) must differ from the previous one."""
    deadline = time.monotonic() + timeout
    while int(time.time()) <= after:
        assert time.monotonic() < deadline, "the wall clock did not advance"
        time.sleep(0.02)


def rows_for(daemon, address: str) -> list[dict]:
    return [r for r in daemon.lease_rows() if r["address"] == address]


# ---------------------------------------------------------------- ISC dhclient

DHCLIENT_SCRIPT = """#!/bin/sh
# Stand-in for dhclient-script: record what dhclient passes, then configure the address.
rec="{rec_dir}/$reason.$$"
env | grep -E '^(reason|interface|new_|old_)' | sort > "$rec.tmp" && mv "$rec.tmp" "$rec"
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
    ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
RELEASE|EXPIRE|STOP)
    [ -n "$old_ip_address" ] && ip -4 addr del "$old_ip_address/$old_subnet_mask" dev "$interface" ;;
esac
exit 0
"""

# Our own request list, so the test does not depend on /etc/dhcp/dhclient.conf.
DHCLIENT_CONF = """timeout {timeout};
initial-interval 1;
request subnet-mask, routers, domain-name, domain-name-servers, domain-search, ntp-servers,
        dhcp-lease-time, dhcp-renewal-time, dhcp-rebinding-time;
"""


class Dhclient:
    def __init__(self, topo, workdir: Path):
        self.topo = topo
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "dhclient.conf"
        self.conf.write_text(DHCLIENT_CONF.format(timeout=CLIENT_WAIT - 10))
        self.lease_file = self.dir / "dhclient.leases"
        self.runs = 0

    def _script(self) -> tuple[Path, Path]:
        """A fresh script and record folder per run, so records of runs never mix."""
        self.runs += 1
        rec_dir = self.dir / f"run{self.runs}"
        rec_dir.mkdir()
        script = self.dir / f"script{self.runs}.sh"
        script.write_text(DHCLIENT_SCRIPT.format(rec_dir=rec_dir))
        script.chmod(0o755)
        return script, rec_dir

    def _args(self, script: Path, *flags: str) -> list[str]:
        # A PID file path never used before: `dhclient -r` signals the PID it finds there.
        pid_file = self.dir / f"dhclient{self.runs}.pid"
        return ["dhclient", "-4", "-v", *flags, "-cf", str(self.conf), "-sf", str(script),
                "-lf", str(self.lease_file), "-pf", str(pid_file), self.topo.client_if]  # fmt: skip

    def obtain(self, reasons: tuple[str, ...]) -> dict:
        """Run dhclient in the foreground (-d) for one try (-1) until the script records a
        lease, then end it by PID. Returns the script's record."""
        script, rec_dir = self._script()
        proc = self.topo.client.popen(
            *self._args(script, "-d", "-1"), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            return wait_record(rec_dir, reasons, proc)
        finally:
            end(proc)

    def release(self) -> dict:
        """`dhclient -r`: sends DHCPRELEASE for the lease in the lease file and exits."""
        script, rec_dir = self._script()
        p = self.topo.client.run(*self._args(script, "-r"), check=False, timeout=CLIENT_WAIT)
        assert p.returncode == 0, f"dhclient -r exited {p.returncode}:\n{p.stdout}{p.stderr}"
        assert "DHCPRELEASE" in p.stdout + p.stderr, p.stdout + p.stderr
        return wait_record(rec_dir, ("RELEASE",), None, timeout=5)


def test_dhclient_lease_renew_release(daemon, topo, cfg, tmp_path):
    exp = expected(cfg)
    dh = Dhclient(topo, tmp_path / "dhclient")

    # ---- lease: DISCOVER, OFFER, REQUEST, ACK
    env = dh.obtain(reasons=("BOUND",))
    addr = env["new_ip_address"]
    assert addr in POOL, f"dhclient got {addr}, outside the pool {POOL[0]}-{POOL[-1]}"
    assert env["new_subnet_mask"] == exp["mask"]
    assert env["new_routers"] == exp["router"]
    assert env["new_domain_name_servers"] == exp["dns"]
    assert env["new_domain_name"] == exp["domain"]
    assert env["new_domain_search"].rstrip(".") == exp["search"]
    assert env["new_ntp_servers"] == exp["ntp"]
    assert env["new_dhcp_lease_time"] == str(exp["lease"])
    assert env["new_dhcp_renewal_time"] == str(exp["t1"])
    assert env["new_dhcp_rebinding_time"] == str(exp["t2"])
    assert env["new_dhcp_server_identifier"] == SERVER
    assert f"{addr}/{exp['prefixlen']}" in topo.client.addresses(topo.client_if)

    first = daemon.last_lease_row(addr)
    assert first is not None, f"no row for {addr} in {daemon.lease_file()}"
    assert first["hwaddr"] == topo.client_mac
    assert first["valid_lifetime"] == str(exp["lease"])
    assert first["subnet_id"] == exp["subnet_id"]
    assert first["state"] == "0"
    # dhclient's own idea of the expiry, from its clock: the same moment within a second or two.
    assert abs(int(first["expire"]) - int(env["new_expiry"])) <= 2, (first, env["new_expiry"])
    rows_before = len(rows_for(daemon, addr))

    # ---- renew: dhclient again with the same lease file (INIT-REBOOT: REQUEST for its address)
    wait_next_second(int(first["expire"]) - int(first["valid_lifetime"]))
    env2 = dh.obtain(reasons=("REBOOT", "BOUND"))
    assert env2["reason"] == "REBOOT", "INIT-REBOOT: the REQUEST for the address in the lease file was ACKed"
    assert env2["new_ip_address"] == addr, "the same client keeps its address"
    assert env2["new_dhcp_lease_time"] == str(exp["lease"])
    renewed = daemon.last_lease_row(addr)
    assert len(rows_for(daemon, addr)) == rows_before + 1, "the renewal appends one row"
    assert renewed["hwaddr"] == topo.client_mac
    assert renewed["valid_lifetime"] == str(exp["lease"])
    assert int(renewed["expire"]) > int(first["expire"]), f"expire did not move forward: {first} -> {renewed}"

    # ---- release: dhclient -r
    rel = dh.release()
    assert rel["old_ip_address"] == addr
    row = wait_row(daemon, addr, lambda r: r["valid_lifetime"] == "0")
    assert row["hwaddr"] == topo.client_mac
    assert row["subnet_id"] == exp["subnet_id"]
    assert addr not in [a.split("/")[0] for a in topo.client.addresses(topo.client_if)]


# ---------------------------------------------------------------- busybox udhcpc

UDHCPC_SCRIPT = """#!/bin/sh
# Stand-in for udhcpc's default.script: record what udhcpc passes, then configure the address.
rec="{rec_dir}/$1.$$"
for v in interface ip mask subnet router dns domain search ntpsrv lease serverid opt58 opt59; do
    eval "echo $v=\\"\\${{$v}}\\""
done > "$rec.tmp" && mv "$rec.tmp" "$rec"
case "$1" in
bound|renew) ip -4 addr replace "$ip/$mask" dev "$interface" ;;
deconfig) ip -4 addr flush dev "$interface" ;;
esac
exit 0
"""


class Udhcpc:
    def __init__(self, topo, workdir: Path):
        self.topo = topo
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runs = 0

    def _cmd(self, *flags: str) -> tuple[list[str], Path]:
        self.runs += 1
        rec_dir = self.dir / f"run{self.runs}"
        rec_dir.mkdir()
        script = self.dir / f"script{self.runs}.sh"
        script.write_text(UDHCPC_SCRIPT.format(rec_dir=rec_dir))
        script.chmod(0o755)
        # Foreground (-f), give up after 3 tries of 2 s (-n -t 3 -T 2), also ask for
        # options 119 and 42.
        cmd = ["udhcpc", "-i", self.topo.client_if, "-f", "-n", "-t", "3", "-T", "2", "-s", str(script),
               "-O", "search", "-O", "ntpsrv", *flags]  # fmt: skip
        return cmd, rec_dir

    def once(self) -> tuple[dict, str]:
        """udhcpc -q: quit once it has a lease. Returns the script's 'bound' record."""
        cmd, rec_dir = self._cmd("-q")
        proc = self.topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = proc.communicate(timeout=CLIENT_WAIT)
        except subprocess.TimeoutExpired:
            end(proc)
            raise AssertionError(f"udhcpc -q did not finish within {CLIENT_WAIT}s:\n{proc.stdout.read()}")
        assert proc.returncode == 0, f"udhcpc exited {proc.returncode}:\n{out}"
        return wait_record(rec_dir, ("bound",), None, timeout=1), out

    def start(self) -> tuple[subprocess.Popen, Path]:
        """udhcpc staying bound (renews on SIGUSR1, releases on SIGUSR2); the caller ends it."""
        cmd, rec_dir = self._cmd()
        proc = self.topo.client.popen(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return proc, rec_dir


def test_udhcpc_lease_renew_release(daemon, topo, cfg, tmp_path):
    exp = expected(cfg)
    u = Udhcpc(topo, tmp_path / "udhcpc")

    env, out = u.once()
    addr = env["ip"]
    assert addr in POOL, f"udhcpc got {addr}, outside the pool; output:\n{out}"
    assert env["subnet"] == exp["mask"]
    assert env["mask"] == str(exp["prefixlen"])
    assert env["router"] == exp["router"]
    assert env["dns"] == exp["dns"]
    assert env["domain"] == exp["domain"]
    assert env["search"].rstrip(".") == exp["search"]
    assert env["ntpsrv"] == exp["ntp"]
    assert env["lease"] == str(exp["lease"])
    assert env["serverid"] == SERVER
    assert int(env["opt58"], 16) == exp["t1"] and int(env["opt59"], 16) == exp["t2"]
    first = daemon.last_lease_row(addr)
    assert first is not None and first["hwaddr"] == topo.client_mac, first
    assert first["valid_lifetime"] == str(exp["lease"]) and first["subnet_id"] == exp["subnet_id"]
    assert first["state"] == "0"

    # A udhcpc that stays: the same MAC gets the same address again.
    proc, rec_dir = u.start()
    try:
        env = wait_record(rec_dir, ("bound",), proc)
        assert env["ip"] == addr, "the same client got another address"
        bound = daemon.last_lease_row(addr)

        # SIGUSR1: renew (RENEWING: REQUEST unicast from the leased address).
        wait_next_second(int(bound["expire"]) - int(bound["valid_lifetime"]))
        os.kill(proc.pid, signal.SIGUSR1)
        env = wait_record(rec_dir, ("renew",), proc)
        assert env["ip"] == addr and env["lease"] == str(exp["lease"])
        renewed = daemon.last_lease_row(addr)
        assert renewed["hwaddr"] == topo.client_mac
        assert int(renewed["expire"]) > int(bound["expire"]), f"expire did not move forward: {bound} -> {renewed}"

        # SIGUSR2: release.
        os.kill(proc.pid, signal.SIGUSR2)
        row = wait_row(daemon, addr, lambda r: r["valid_lifetime"] == "0")
        assert row["hwaddr"] == topo.client_mac
        assert row["subnet_id"] == exp["subnet_id"]
    finally:
        end(proc)
