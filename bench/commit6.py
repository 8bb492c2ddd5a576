#!/usr/bin/env python3
"""DHCPv6 configuration changes with 2,000,000 v6 leases loaded (see README.md, run 5).

Run as root through `ONLY=commit6 bench/run.sh` (needs the project's .venv: paramiko).
netdhcpd (durability fsync) runs in dhcp6.py's namespaces on gen-leases6.py's LEASES rows with
dhcp6.py's configuration; over NETCONF (127.0.0.1:830 in ndb-srv) COMMITS edit-config +
commit each change the value of an option of subnet 1. A commit's <ok/> leaves when the
configuration is committed; the engines apply it after, so two times are reported for each:
the client's, to the <ok/>, and the DHCPv6 engine's own, the `elapsed_ms` of its
"DHCPv6 configuration applied" log line (whole milliseconds), waited for before the next.

Environment: LEASES (2000000), COMMITS (11), NETDHCPD, BENCH_WORK.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench
import dhcp6
import ncraw
from bench import HERE, LEASES, NS_SRV, log, netns_down, sh

COMMITS = int(os.environ.get("COMMITS", "11"))
APPLIED = re.compile(r"DHCPv6 configuration applied.*?elapsed_ms=(\d+)")


def option(i: int) -> str:
    return (f'<server xmlns="{ncraw.ND_NS}"><dhcpv6><subnet><id>1</id><option><code>98</code>'
            f"<format>text</format><value>v{i}</value><always-send>true</always-send></option>"
            "</subnet></dhcpv6></server>")  # fmt: skip


def applied_ms(server) -> list[int]:
    text = re.sub(r"\x1b\[[0-9;]*m", "", server.log_path.read_text(errors="replace"))
    return [int(m) for m in APPLIED.findall(text)]


def wait_applied(server, count: int, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while len(applied_ms(server)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the DHCPv6 engine did not apply configuration {count} within {timeout} s")
        time.sleep(0.02)


def main() -> int:
    if os.geteuid() != 0:
        print("commit6.py needs root (network namespaces)", file=sys.stderr)
        return 2
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="netdhcp-bench-commit6."))
    work.mkdir(parents=True, exist_ok=True)
    lease_file = work / "leases6-commit.csv"
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "netdhcpd": str(bench.NETDHCPD), "leases": LEASES}
    try:
        log(f"generating {LEASES:,} v6 leases from {dhcp6.LEASES6_FIRST}")
        sh(sys.executable, str(HERE / "gen-leases6.py"), str(lease_file), str(LEASES), dhcp6.LEASES6_FIRST, timeout=300)
        dhcp6.netns6_up()
        ncraw.enter_netns(NS_SRV)
        key, pub = ncraw.client_key(work)
        settings = work / "commit6-settings.toml"
        settings.write_text(ncraw.settings_toml(bench.NETDHCPD, pub))
        server = dhcp6.Server6("nd-fsync", work / "commit6-nd", lease_file, extra_args=("--settings", str(settings)))
        try:
            out["ready_s"] = server.wait_ready(300)
            wait_applied(server, 1)
            out["first_apply_ms"] = applied_ms(server)[0]
            s = ncraw.Session(ncraw.host_key_of(server.work / "state"), key_file=key)
            s.edit_commit(option(0))  # adds the option
            wait_applied(server, 2)
            out["load"] = bench.loadavg()
            out["commit_ms"], base = [], len(applied_ms(server))
            for i in range(1, COMMITS + 1):
                out["commit_ms"].append(s.edit_commit(option(i)) * 1000)
                wait_applied(server, base + i)
            out["engine_apply_ms"] = applied_ms(server)[base:]
            s.close()
        finally:
            server.stop()
    finally:
        netns_down()
        lease_file.unlink(missing_ok=True)
        (work / "results-commit6.json").write_text(json.dumps(out, indent=1))
    print()
    print(f"DHCPv6 commits with {LEASES:,} leases, {out['date']}, load {out.get('load')}")
    print(f"start-up to ready: {out.get('ready_s', 0):.2f} s; first configuration applied in {out.get('first_apply_ms')} ms")
    print(f"commit changing one option, client to <ok/>: median {statistics.median(out['commit_ms']):.2f} ms "
          f"[{min(out['commit_ms']):.2f}–{max(out['commit_ms']):.2f}] of {COMMITS}")  # fmt: skip
    print(f"the DHCPv6 engine's apply: median {statistics.median(out['engine_apply_ms'])} ms "
          f"[{min(out['engine_apply_ms'])}–{max(out['engine_apply_ms'])}]")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
