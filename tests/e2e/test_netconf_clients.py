"""netdhcpd driven by the clients operators and automation use: netconf-console2 and Ansible's
ansible.netcommon netconf modules (both run with `ip netns exec` inside the server namespace),
and 20 ncclient sessions at once. Host keys are verified for real: each client reads the
known_hosts file written from the daemon's key; a wrong key is refused.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree
from ncclient.transport.errors import SSHUnknownHostError

from netconf_tools import (
    NDHCP_NS,
    NSMAP,
    PRL,
    Nc,
    leaf,
    leaves,
    nc_config,
    nc_env_factory,  # noqa: F401 (fixture)
    ndhcp,
    subnet_xml,
    wait_for,
)


@pytest.fixture
def env(nc_env_factory, topo):
    return nc_env_factory(nc_config(topo.server_if))


def data_of(stdout: str):
    """netconf-console2 prints the <data> element (or the reply) as XML."""
    root = etree.fromstring(stdout.encode())
    return root


# ---------------------------------------------------------------- host keys


def test_wrong_host_key_is_refused(env):
    # A known_hosts naming another key for [127.0.0.1]:830: every client must refuse.
    other = env.workdir / "other_key"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True, timeout=30)
    wrong = " ".join(open(f"{other}.pub").read().split()[:2])
    assert wrong != env.host_key
    env.known_hosts.write_text(f"[127.0.0.1]:{env.port} {wrong}\n")
    with pytest.raises(SSHUnknownHostError):
        Nc(env)
    p = env.console("--hello", check=False)
    assert p.returncode != 0 and "Unknown host key" in (p.stdout + p.stderr), p.stdout + p.stderr
    # And with the right key it connects.
    env.write_client_files()
    assert not env.connect().get_config("running").errors


# ---------------------------------------------------------------- netconf-console2


def test_netconf_console2(env, client):
    p = env.console("--hello")
    assert "urn:ietf:params:netconf:capability:candidate:1.0" in p.stdout
    assert "urn:ietf:params:netconf:capability:confirmed-commit:1.1" in p.stdout
    assert "urn:ietf:params:netconf:base:1.1" in p.stdout

    # -x XPATH with --ns, as netconf-console2 sends it (select= with the prefix declared on
    # <filter>).
    p = env.console("--get-config", "--ns", f"nd={NDHCP_NS}", "-x", "/nd:server/nd:dhcpv4/nd:subnet[nd:id='1']/nd:prefix")
    d = data_of(p.stdout)
    assert leaves(d, "//d:subnet/d:prefix") == ["100.64.0.0/16"], p.stdout
    assert leaves(d, "//d:subnet/d:id") == ["1"]
    assert not d.xpath("//d:domain-name", namespaces=NSMAP)
    # Subtree filter and with-defaults on the candidate.
    p = env.console(
        "--db", "candidate", "--with-defaults", "report-all", "--get-config",
        "--ns", f"nd={NDHCP_NS}", "--filter", "/nd:server/nd:dhcpv4/nd:valid-lifetime",
    )  # fmt: skip
    assert leaves(data_of(p.stdout), "//d:dhcpv4/d:valid-lifetime") == ["3600"], p.stdout

    # Configure a subnet and an option, commit with confirmation, confirm (one session: a
    # confirmed commit without persist ends with its session).
    f = env.workdir / "edit.xml"
    f.write_text(ndhcp(
        "<dhcpv4><domain-name>console.example</domain-name>"
        + subnet_xml(5, "100.69.0.0/24", [("100.69.0.10", "100.69.0.20")])
        + "</dhcpv4>"
    ))  # fmt: skip
    env.console("--db", "candidate", "--edit-config", str(f), "--commit", "confirmed", "--timeout", "60", "--commit")
    p = env.console("--get-config", "--ns", f"nd={NDHCP_NS}", "-x", "/nd:server/nd:dhcpv4/nd:subnet[nd:id='5']")
    assert leaves(data_of(p.stdout), "//d:subnet/d:pool/d:start") == ["100.69.0.10"], p.stdout
    ack = client.lease(mac="02:00:00:01:05:01", prl=PRL)
    assert ack.domain_name == "console.example"
    # A confirmed commit left unconfirmed when the session ends is rolled back.
    f.write_text(ndhcp("<dhcpv4><domain-name>undone.example</domain-name></dhcpv4>"))
    env.console("--db", "candidate", "--edit-config", str(f), "--commit", "confirmed", "--timeout", "60")
    s = env.connect()
    wait_for(
        lambda: leaf(s.config_data("running"), "d:server/d:dhcpv4/d:domain-name") == "console.example",
        timeout=10, what="rollback after netconf-console2's session ended",
    )  # fmt: skip
    assert client.lease(mac="02:00:00:01:05:02", prl=PRL).domain_name == "console.example"
    # cancel-commit sent as a raw rpc in the same session.
    rpc = env.workdir / "cancel.xml"
    rpc.write_text('<cancel-commit xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>')
    p = env.console("--db", "candidate", "--edit-config", str(f), "--commit", "confirmed", "--timeout", "60", "--rpc", str(rpc))
    assert p.stdout.count("<ok ") == 2 and p.stdout.count("<ok/>") == 1, p.stdout
    assert leaf(s.config_data("running"), "d:server/d:dhcpv4/d:domain-name") == "console.example"
    assert client.lease(mac="02:00:00:01:05:03", prl=PRL).domain_name == "console.example"
    # An error is printed as the rpc-error (and the exit status says so).
    f.write_text(ndhcp("<dhcpv4><valid-lifetime>0</valid-lifetime></dhcpv4>"))
    p = env.console("--db", "candidate", "--edit-config", str(f), check=False)
    assert p.returncode != 0, p.stdout
    assert "<error-tag>invalid-value</error-tag>" in p.stdout, p.stdout
    # copy running to startup, get-schema.
    env.console("--copy-running-to-startup")
    p = env.console("--get-config", "--db", "startup", "--ns", f"nd={NDHCP_NS}", "-x", "/nd:server/nd:dhcpv4/nd:domain-name")
    assert leaves(data_of(p.stdout), "//d:domain-name") == ["console.example"]
    p = env.console("--get-schema", "netdhcp-server")
    assert "module netdhcp-server" in p.stdout


# ---------------------------------------------------------------- Ansible

PLAYBOOK = """
- name: netdhcp over NETCONF
  hosts: nd
  gather_facts: false
  tasks:
    - name: configure subnet 7
      ansible.netcommon.netconf_config:
        target: candidate
        commit: true
        save: true
        content: |
          <config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
            <server xmlns="urn:netdhcp:yang:netdhcp-server">
              <dhcpv4>
                <subnet>
                  <id>7</id>
                  <prefix>100.71.0.0/24</prefix>
                  <description>from ansible</description>
                  <pool><start>100.71.0.10</start><end>100.71.0.20</end></pool>
                </subnet>
              </dhcpv4>
            </server>
          </config>
      register: first

    - name: the same again changes nothing
      ansible.netcommon.netconf_config:
        target: candidate
        commit: true
        content: |
          <config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
            <server xmlns="urn:netdhcp:yang:netdhcp-server">
              <dhcpv4>
                <subnet>
                  <id>7</id>
                  <prefix>100.71.0.0/24</prefix>
                  <description>from ansible</description>
                  <pool><start>100.71.0.10</start><end>100.71.0.20</end></pool>
                </subnet>
              </dhcpv4>
            </server>
          </config>
      register: second

    - name: read it back
      ansible.netcommon.netconf_get:
        source: running
        filter: <server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4><subnet><id>7</id></subnet></dhcpv4></server>
        display: xml
      register: got

    - name: read startup
      ansible.netcommon.netconf_get:
        source: startup
        filter: <server xmlns="urn:netdhcp:yang:netdhcp-server"><dhcpv4><subnet><id>7</id><prefix/></subnet></dhcpv4></server>
        display: xml
      register: startup

    - name: close the persistent connection
      ansible.builtin.meta: reset_connection
"""


def _task_results(out: dict) -> dict:
    res = {}
    for play in out["plays"]:
        for t in play["tasks"]:
            res[t["task"]["name"]] = t["hosts"].get("netdhcpd", {})
    return res


def test_ansible_netconf_config_and_get(env):
    p = env.ansible_playbook(PLAYBOOK)
    assert p.returncode == 0, f"ansible-playbook exited {p.returncode}\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    out = json.loads(p.stdout)
    res = _task_results(out)
    assert res["configure subnet 7"]["changed"] is True, res["configure subnet 7"]
    assert res["the same again changes nothing"]["changed"] is False, res["the same again changes nothing"]
    got = etree.fromstring(res["read it back"]["stdout"].encode())
    assert leaves(got, "//d:subnet/d:prefix") == ["100.71.0.0/24"], res["read it back"]["stdout"]
    assert leaves(got, "//d:subnet/d:description") == ["from ansible"]
    st = etree.fromstring(res["read startup"]["stdout"].encode())
    assert leaves(st, "//d:subnet/d:prefix") == ["100.71.0.0/24"], "save: true copied running to startup"
    # Seen by another client too.
    s = env.connect()
    assert leaf(s.config_data("running"), "d:server/d:dhcpv4/d:subnet[d:id='7']/d:pool/d:end") == "100.71.0.20"


def test_ansible_refuses_unknown_host_key(env):
    env.known_hosts.write_text("")  # nothing known: host key checking must refuse
    p = env.ansible_playbook(PLAYBOOK)
    assert p.returncode != 0, p.stdout[-3000:]
    assert "known_hosts" in (p.stdout + p.stderr) or "Unknown host key" in (p.stdout + p.stderr) or "not found in known_hosts" in (p.stdout + p.stderr), (
        p.stdout[-3000:] + p.stderr[-3000:]
    )
    env.write_client_files()
    assert Nc(env).config_data("running").xpath("d:server/d:dhcpv4/d:subnet[d:id='7']", namespaces=NSMAP) == []


# ---------------------------------------------------------------- many sessions


def test_twenty_parallel_sessions_get_config(env):
    n = 20
    barrier = threading.Barrier(n, timeout=120)

    def one(i):
        nc = Nc(env, timeout=60)
        try:
            barrier.wait()  # all 20 sessions open at once
            r = nc.get_config("running")
            assert not r.errors, r.raw
            ids = leaves(r.data, "d:server/d:dhcpv4/d:subnet/d:id")
            return nc.session_id, ids
        finally:
            nc.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        results = [f.result(timeout=180) for f in futures]
    assert len({sid for sid, _ in results}) == n, "20 distinct sessions"
    assert all(ids == ["1"] for _, ids in results), results
