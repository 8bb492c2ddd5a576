#!/usr/bin/env bash
# Installs what building and testing netdhcp needs on Debian 12, as root.
#
#   scripts/setup.sh         everything: build tools, test tools, the Python venv (.venv)
#   scripts/setup.sh build   only what `cargo build` needs (used by `make run`)
#
# Idempotent and fast when already done: apt-get runs only when a package is missing, and
# pip runs only when tests/e2e/requirements.txt changed since the venv was last filled.
set -euo pipefail

cd "$(dirname "$0")/.."

mode="${1:-all}"
case "$mode" in
    all | build) ;;
    *)
        echo "usage: $0 [all|build]" >&2
        exit 2
        ;;
esac

# libyang is built from source by the yang5 crate (bundled): cmake, a C compiler, pcre2 and
# clang for bindgen.
build_pkgs=(build-essential cmake libpcre2-dev pkg-config clang libclang-dev)
# iproute2: namespaces and veth pairs; iputils-ping: reachability inside test namespaces; isc-dhcp-client, udhcpc: real clients;
# kea-admin (perfdhcp), kea-common (kea-lfc), kea-dhcp4-server, kea-dhcp6-server: interoperability checks;
# libyang2-tools: yanglint; python3-venv: the test venv; tcpdump: debugging captures;
# openssh-client: ssh-keygen (host and client keys), ssh (the NETCONF benchmark).
test_pkgs=(iproute2 iputils-ping isc-dhcp-client udhcpc kea-admin kea-common kea-dhcp4-server
    kea-dhcp6-server libyang2-tools python3-venv tcpdump curl openssl openssh-client)

pkgs=("${build_pkgs[@]}")
if [ "$mode" = all ]; then
    pkgs+=("${test_pkgs[@]}")
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: must run as root (it installs Debian packages and the tests need netns)" >&2
    exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing ${missing[*]}"
    # Installing kea-dhcp4-server or kea-dhcp6-server must not leave a DHCP server running on
    # this machine: the tests start their own servers inside network namespaces. Without
    # systemd, Debian's maintainer scripts ask policy-rc.d whether they may start a service;
    # 101 means no.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    restore_policy() {
        if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
    }
    trap restore_policy EXIT
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    restore_policy
    trap - EXIT
fi

if [ "$mode" = all ]; then
    # On a machine that runs systemd, policy-rc.d is not consulted: stop and disable the
    # service the package enabled.
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        for unit in kea-dhcp4-server.service kea-dhcp6-server.service kea-ctrl-agent.service; do
            if systemctl list-unit-files "$unit" >/dev/null 2>&1; then
                systemctl disable --now "$unit" >/dev/null 2>&1 || true
            fi
        done
    fi
    # Without systemd, also keep it from starting at boot (sysv links).
    for svc in kea-dhcp4-server kea-dhcp6-server; do
        if [ -x "/etc/init.d/$svc" ] && command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d "$svc" disable >/dev/null 2>&1 || true
        fi
    done
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    echo "setup.sh: cargo not found; this machine needs a Rust toolchain (rustup)" >&2
    exit 1
fi

if [ "$mode" = all ]; then
    req=tests/e2e/requirements.txt
    stamp=.venv/.requirements.sha256
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    # Debian's interpreter, not whatever python3 comes first on PATH: python3-venv above is
    # what makes `-m venv` work on a clean machine.
    if [ ! -x .venv/bin/python ]; then
        /usr/bin/python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
        echo "$want" >"$stamp"
    fi
fi
