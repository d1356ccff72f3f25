#!/usr/bin/env bash
# Debian packages the probe's censorship lab (tests/test_probe_lab.py, tests/netlab) needs:
# iproute2 (ip netns, veth, tc), nftables (the censor's rules), iptables (ip6tables' string match
# for the SNI scenario, on nftables' own tables), procps (sysctl for forwarding), openssl (the lab's
# certificates). Installs only what is missing; safe to run again. Needs root (CI runs as root).
set -euo pipefail
declare -A COMMAND_OF=([iproute2]=ip [nftables]=nft [iptables]=ip6tables [procps]=sysctl [openssl]=openssl)
missing=()
for package in "${!COMMAND_OF[@]}"; do
  if ! PATH="$PATH:/usr/sbin:/sbin" command -v "${COMMAND_OF[$package]}" >/dev/null 2>&1; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ci-netlab-deps: missing ${missing[*]}; run as root to install them (apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y --no-install-recommends "${missing[@]}"
