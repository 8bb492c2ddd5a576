#!/usr/bin/env python3
"""Configure netdhcpd over NETCONF with ncclient: apply a configuration with a confirmed
commit, confirm it, cancel it, or read the running configuration.

A confirmed commit made with --persist survives the end of this script's session, so you can
check the result (e.g. let a DHCP client get a lease) before confirming it from a second run;
if you never confirm, the server restores the previous configuration when the timeout ends.

    netconf_client.py --password-file STATE/admin-password apply subnet.xml --confirm-timeout 120 --persist demo
    netconf_client.py --password-file STATE/admin-password confirm --persist-id demo
    netconf_client.py --password-file STATE/admin-password cancel --persist-id demo
    netconf_client.py --password-file STATE/admin-password get

The server's host key is verified against --known-hosts (make it with:
    echo "[127.0.0.1]:830 $(ssh-keygen -y -f STATE/ssh_host_ed25519_key)" > known_hosts).
"""

import argparse
import os
import sys
import tempfile

from ncclient import manager
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

NS = "urn:netdhcp:yang:netdhcp-server"


def connect(args):
    with open(args.password_file) as f:
        password = f.read().strip()
    # ncclient reads the known_hosts file named by an OpenSSH client configuration.
    config = tempfile.NamedTemporaryFile("w", suffix=".ssh_config", delete=False)
    config.write(f"Host *\n  UserKnownHostsFile {os.path.abspath(args.known_hosts)}\n")
    config.close()
    try:
        return manager.connect(
            host=args.host,
            port=args.port,
            username=args.user,
            password=password,
            hostkey_verify=True,
            ssh_config=config.name,
            allow_agent=False,
            look_for_keys=False,
            timeout=30,
        )
    finally:
        os.unlink(config.name)


def confirmed_commit(m, timeout, persist):
    rpc = (
        '<commit xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><confirmed/>'
        f"<confirm-timeout>{timeout}</confirm-timeout><persist>{persist}</persist></commit>"
    )
    return m.dispatch(to_ele(rpc))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=830)
    p.add_argument("--user", default="admin")
    p.add_argument("--password-file", required=True)
    p.add_argument("--known-hosts", default="known_hosts")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("apply", help="edit the candidate with FILE and commit it, confirmed")
    a.add_argument("file")
    a.add_argument("--confirm-timeout", type=int, default=120)
    a.add_argument("--persist", default="netdhcp-client")
    c = sub.add_parser("confirm", help="confirm a persistent confirmed commit")
    c.add_argument("--persist-id", default="netdhcp-client")
    x = sub.add_parser("cancel", help="cancel a persistent confirmed commit: restore the previous configuration")
    x.add_argument("--persist-id", default="netdhcp-client")
    sub.add_parser("get", help="print the running configuration")
    args = p.parse_args()

    try:
        with connect(args) as m:
            if args.cmd == "apply":
                with open(args.file) as f:
                    body = f.read()
                if "<?xml" in body:
                    body = body.split("?>", 1)[1]
                m.edit_config(target="candidate", config=f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</config>')
                confirmed_commit(m, args.confirm_timeout, args.persist)
                print(f"committed; confirm within {args.confirm_timeout} s with: confirm --persist-id {args.persist}")
            elif args.cmd == "confirm":
                m.commit(persist_id=args.persist_id)
                print("confirmed")
            elif args.cmd == "cancel":
                m.dispatch(to_ele(
                    '<cancel-commit xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                    f"<persist-id>{args.persist_id}</persist-id></cancel-commit>"
                ))
                print("cancelled: previous configuration restored")
            else:
                print(m.get_config(source="running", filter=("subtree", f'<server xmlns="{NS}"/>')).data_xml)
    except RPCError as e:
        print(f"rpc-error {e.tag}: {e.message} (path {e.path})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
