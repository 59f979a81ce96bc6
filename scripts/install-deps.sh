#!/usr/bin/env bash
# Installs the Debian packages skiff runs and tests with, if any is missing:
# containerd + runc for pods, the standard CNI plugins, iptables, etcd (the
# external-etcd test) and a static busybox (test images).
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have containerd || need+=(containerd)
have runc || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have iptables || need+=(iptables)
have iptables-restore || need+=(iptables)
have etcd || need+=(etcd-server)
have etcdctl || need+=(etcd-client)
[ -x /bin/busybox ] || need+=(busybox-static)
have ip || need+=(iproute2)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "skiff needs these Debian packages: ${need[*]}; run as root (sudo) to install them" >&2
	exit 1
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
# Debian starts a system etcd and containerd on install; skiff starts its own.
for svc in etcd containerd; do
	systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
