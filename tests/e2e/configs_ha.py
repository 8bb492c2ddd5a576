"""Configurations of the failover (HA) tests: netdhcpd startup documents with /server/ha, and
the equivalent ISC Kea 2.2 configurations for the interoperability tests.

Both servers of a pair get the same DHCP configuration and the same peer list; only
`this-server-name` and the interface differ. The peer URLs are on the dedicated peer link of
ha.HaTopology (100.100.0.1 and 100.100.0.2, port 8001), so cutting that link separates the
servers without touching the clients' network.

The Kea configurations follow /work/shared/bench/kea-ha/*.json.in: multi-threaded Kea with the
HA hook's dedicated HTTP listener (Kea answers the peer's commands on its own peer URL, no
control agent), lease_cmds loaded (the partner's lease4-update and lease4-get-page need it).
"""

from __future__ import annotations

import copy
from pathlib import Path

from configs import NS, _render

# ---------------------------------------------------------------- names and addresses

S1_NAME = "server1"
S2_NAME = "server2"
PEER_PORT = 8001
S1_PEER_IP = "100.100.0.1"
S2_PEER_IP = "100.100.0.2"
PEER_NET = "100.100.0.0/30"
S1_URL = f"http://{S1_PEER_IP}:{PEER_PORT}/"
S2_URL = f"http://{S2_PEER_IP}:{PEER_PORT}/"
S1_LAN_IP = "100.64.0.1"  # server identifier of server1's replies
S2_LAN_IP = "100.64.0.3"  # server identifier of server2's replies

SUBNET_ID = 1
SUBNET = "100.64.0.0/10"
ROUTER = "100.64.0.254"
DNS = "100.64.0.53"
POOL_START, POOL_END = "100.64.1.0", "100.64.63.255"  # 16,128 addresses: every test's clients fit
VALID_LIFETIME = 4000
RENEW_TIMER = 1000
REBIND_TIMER = 2000

HOT_STANDBY = "hot-standby"
LOAD_BALANCING = "load-balancing"

# Short failure detection, so a test sees a failover in about two seconds: a heartbeat every
# 500 ms, communication interrupted after 2 s without one. max-unacked-clients 0: an
# interrupted link alone declares the partner down (no need for clients to go unanswered).
FAST_TIMERS = {
    "heartbeat-delay": 500,
    "max-response-delay": 2000,
    "max-ack-delay": 1000,
    "max-unacked-clients": 0,
}


def timers(**overrides) -> dict:
    """FAST_TIMERS with some leaves replaced (underscores for dashes)."""
    t = dict(FAST_TIMERS)
    for k, v in overrides.items():
        t[k.replace("_", "-")] = v
    return t


def partner_role(mode: str) -> str:
    return "standby" if mode == HOT_STANDBY else "secondary"


def ha_peers(mode: str, *, s1_url: str = S1_URL, s2_url: str = S2_URL, auto_failover: bool = True,
             s1_role: str = "primary", s2_role: str | None = None) -> list[dict]:
    """The peer list both servers carry: server1 the primary, server2 the standby
    (hot-standby) or the secondary (load-balancing)."""
    return [
        {"name": S1_NAME, "url": s1_url, "role": s1_role, "auto-failover": auto_failover},
        {"name": S2_NAME, "url": s2_url, "role": s2_role or partner_role(mode), "auto-failover": auto_failover},
    ]  # fmt: skip


def ha_block(this: str, mode: str, *, peers: list[dict] | None = None, timer_values: dict | None = None,
             **leaves) -> dict:
    """The /server/ha container, children in the model's order; keyword arguments (underscores
    for dashes) add leaves such as sync_page_size or sync_leases."""
    ha = {
        "this-server-name": this,
        "mode": mode,
        "peer": peers if peers is not None else ha_peers(mode),
        "timers": timer_values if timer_values is not None else dict(FAST_TIMERS),
    }
    for k, v in leaves.items():
        ha[k.replace("_", "-")] = v
    return ha


def ha_dhcp4(iface: str, **overrides) -> dict:
    """The DHCPv4 side of every HA test: subnet 1 100.64.0.0/10, pool 100.64.1.0-100.64.63.255,
    no reservations (a reservation is answered by whoever is in scope, which would only blur
    the tests)."""
    d = {
        "interface": iface,
        "valid-lifetime": VALID_LIFETIME,
        "renew-timer": RENEW_TIMER,
        "rebind-timer": REBIND_TIMER,
        "dns-server": DNS,
        "domain-name": "example.net",
    }
    for k, v in overrides.items():
        d[k.replace("_", "-")] = v
    d["subnet"] = [{
        "id": SUBNET_ID,
        "prefix": SUBNET,
        "router": ROUTER,
        "pool": [{"start": POOL_START, "end": POOL_END}],
    }]  # fmt: skip
    return d


def ha_server_xml(dhcpv4: dict, ha: dict, lease_database: dict | None = None) -> str:
    """A netdhcp-server document with dhcpv4 and ha (and lease-database when given)."""
    out = [f'<server xmlns="{NS}">']
    if lease_database is not None:
        _render("lease-database", lease_database, 1, out)
    _render("dhcpv4", dhcpv4, 1, out)
    _render("ha", ha, 1, out)
    out.append("</server>")
    return "\n".join(out) + "\n"


def pair_xml(mode: str, s1_if: str, s2_if: str, *, timer_values: dict | None = None, peers: list[dict] | None = None,
             **leaves) -> tuple[str, str]:
    """(server1's document, server2's document) for one pair: same DHCP configuration, same
    peer list, each naming itself."""
    peers = peers if peers is not None else ha_peers(mode)
    return tuple(
        ha_server_xml(ha_dhcp4(iface), ha_block(this, mode, peers=peers, timer_values=timer_values, **leaves))
        for this, iface in ((S1_NAME, s1_if), (S2_NAME, s2_if))
    )  # type: ignore[return-value]


def timers_xml(**values) -> str:
    """An edit-config payload (inside <server>) setting timer leaves of /server/ha."""
    inner = "".join(f"<{k.replace('_', '-')}>{v}</{k.replace('_', '-')}>" for k, v in values.items())
    return f"<ha><timers>{inner}</timers></ha>"


# ---------------------------------------------------------------- ISC Kea 2.2

KEA_HOOKS = Path("/usr/lib/x86_64-linux-gnu/kea/hooks")
KEA_HA_HOOK = KEA_HOOKS / "libdhcp_ha.so"
KEA_LEASE_CMDS_HOOK = KEA_HOOKS / "libdhcp_lease_cmds.so"

# Kea's HA timers for a mixed pair: Kea 2.2 is happier with a whole-second heartbeat, and the
# netdhcpd side gets the same values so both detect a failure alike.
KEA_TIMERS = {
    "heartbeat-delay": 1000,
    "max-response-delay": 3000,
    "max-ack-delay": 1000,
    "max-unacked-clients": 0,
}


def kea_ha_config(iface: str, lease_file: Path | str, this: str, mode: str = HOT_STANDBY, *,
                  timer_values: dict | None = None, peers: list[dict] | None = None) -> dict:
    """kea-dhcp4's configuration for one side of a pair: the same subnet, pool, lifetimes and
    options as ha_dhcp4, memfile at lease_file (persisted, no LFC), multi-threading with the HA
    hook's dedicated listener on this server's peer URL."""
    from loadtools import KeaDhcp4

    t = dict(timer_values if timer_values is not None else KEA_TIMERS)
    ha = {
        "this-server-name": this,
        "mode": mode,
        **t,
        "sync-timeout": 60000,
        "peers": copy.deepcopy(peers if peers is not None else ha_peers(mode)),
        "multi-threading": {
            "enable-multi-threading": True,
            "http-dedicated-listener": True,
            "http-listener-threads": 0,
            "http-client-threads": 0,
        },
    }
    subnet = {
        "id": SUBNET_ID,
        "subnet": SUBNET,
        "pools": [{"pool": f"{POOL_START} - {POOL_END}"}],
        "option-data": [{"name": "routers", "data": ROUTER}],
    }
    return KeaDhcp4.config(
        iface,
        Path(lease_file),
        [subnet],
        **{
            "valid-lifetime": VALID_LIFETIME,
            "renew-timer": RENEW_TIMER,
            "rebind-timer": REBIND_TIMER,
            "option-data": [
                {"name": "domain-name-servers", "data": DNS},
                {"name": "domain-name", "data": "example.net"},
            ],
            "multi-threading": {"enable-multi-threading": True, "thread-pool-size": 2, "packet-queue-size": 64},
            "hooks-libraries": [
                {"library": str(KEA_LEASE_CMDS_HOOK), "parameters": {}},
                {"library": str(KEA_HA_HOOK), "parameters": {"high-availability": [ha]}},
            ],
        },
    )


def kea_missing() -> str | None:
    """Why the Kea interoperability tests cannot run here, or None when they can."""
    import shutil

    if shutil.which("kea-dhcp4") is None:
        return "kea-dhcp4 is not installed (Debian package kea-dhcp4-server)"
    for hook in (KEA_HA_HOOK, KEA_LEASE_CMDS_HOOK):
        if not hook.exists():
            return f"Kea hook library {hook} is not installed"
    return None


# ---------------------------------------------------------------- a backup server; TLS and basic auth on the peer link

# The backup (test_ha_backup.py) is a third server on the clients' bridge (ha.add_bridge_namespace):
# the primary reaches its listener across the bridge.
S3_NAME = "server3"
S3_LAN_IP = "100.64.0.9"
S3_URL = f"http://{S3_LAN_IP}:{PEER_PORT}/"
S1_HTTPS_URL = f"https://{S1_PEER_IP}:{PEER_PORT}/"
S2_HTTPS_URL = f"https://{S2_PEER_IP}:{PEER_PORT}/"


def backup_peers(mode: str = HOT_STANDBY, *, s3_url: str = S3_URL, **kw) -> list[dict]:
    """ha_peers plus server3 with role backup (auto-failover left to its default)."""
    return ha_peers(mode, **kw) + [{"name": S3_NAME, "url": s3_url, "role": "backup"}]


def trio_xml(mode: str, s1_if: str, s2_if: str, s3_if: str, *, timer_values: dict | None = None,
             peers: list[dict] | None = None, **leaves) -> tuple[str, str, str]:
    """(server1's, server2's, server3's document): the pair of pair_xml plus the backup, same DHCP
    configuration and the same three-peer list on all three, each naming itself."""
    peers = peers if peers is not None else backup_peers(mode)
    return tuple(
        ha_server_xml(ha_dhcp4(iface), ha_block(this, mode, peers=peers, timer_values=timer_values, **leaves))
        for this, iface in ((S1_NAME, s1_if), (S2_NAME, s2_if), (S3_NAME, s3_if))
    )  # type: ignore[return-value]


def tls_leaves(ca_file, cert_file, key_file) -> dict:
    """/server/ha/tls."""
    return {"ca-file": str(ca_file), "cert-file": str(cert_file), "key-file": str(key_file)}


def tls_pair_xml(mode: str, s1_if: str, s2_if: str, tls1: dict, tls2: dict, *, timer_values: dict | None = None,
                 basic_auth: dict | None = None, **leaves) -> tuple[str, str]:
    """(server1's, server2's document) with https peer URLs on the peer link and each server's
    own TLS files (tls_leaves); basic_auth ({"user", "password"}) the same on both when given."""
    peers = ha_peers(mode, s1_url=S1_HTTPS_URL, s2_url=S2_HTTPS_URL)
    out = []
    for this, iface, tls in ((S1_NAME, s1_if, tls1), (S2_NAME, s2_if, tls2)):
        ha = ha_block(this, mode, peers=peers, timer_values=timer_values, **leaves)
        ha["tls"] = tls
        if basic_auth is not None:
            ha["basic-auth"] = basic_auth
        out.append(ha_server_xml(ha_dhcp4(iface), ha))
    return tuple(out)  # type: ignore[return-value]
