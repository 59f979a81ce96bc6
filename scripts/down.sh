#!/usr/bin/env bash
# Stops the skiffd that scripts/up.sh started.
#
#   scripts/down.sh           stop skiffd; pods keep running (as k3s does) and
#                             the next `make up` adopts them; data stays
#   scripts/down.sh --purge   delete every workload and pod first (each stops
#                             within its grace period and releases its IP),
#                             stop skiffd, remove the pod network (bridge
#                             skiff0, its masquerade chain) and the data dir
set -euo pipefail
cd "$(dirname "$0")/.."

purge=0
case "${1:-}" in
--purge) purge=1 ;;
"") ;;
*) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

DATA_DIR=${SKIFF_DATA_DIR:-/var/lib/skiff}
PIDFILE=$DATA_DIR/skiffd.pid
export SKIFF_CONFIG=$DATA_DIR/admin.conf
SKIFF=${SKIFF_BIN:-bin/skiff}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# delete_workloads removes every workload and pod in every namespace and
# waits (up to 2 minutes) for the node agent to stop and remove the pods.
delete_workloads() {
	local namespaces ns left
	namespaces=$($SKIFF get namespaces -o name | sed 's|^namespace/||')
	for ns in $namespaces; do
		for kind in cronjobs jobs deployments statefulsets daemonsets replicasets pods; do
			$SKIFF delete "$kind" --all -n "$ns" --ignore-not-found >/dev/null 2>&1
		done
	done
	for _ in $(seq 1 240); do
		left=0
		for ns in $namespaces; do
			left=$((left + $($SKIFF get pods -n "$ns" --no-headers 2>/dev/null | grep -c . || true)))
		done
		[ "$left" -eq 0 ] && { echo "all pods deleted"; return 0; }
		sleep 0.5
	done
	echo "warning: $left pods still terminating after 2 minutes; see $DATA_DIR/skiffd.log" >&2
	return 1
}

if running; then
	if [ "$purge" = 1 ]; then
		delete_workloads || true
	fi
	pid=$(cat "$PIDFILE")
	kill -TERM "$pid"
	for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "skiffd (pid $pid) did not stop in 15 s; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	echo "skiffd stopped"
else
	echo "skiffd is not running (no live pid in $PIDFILE)"
fi
rm -f "$PIDFILE"

if [ "$purge" = 0 ]; then
	echo "pods keep running and are adopted by the next 'make up'; 'scripts/down.sh --purge' removes them and the data"
	exit 0
fi

# The service proxy's iptables rules outlive skiffd by design.
"${SKIFFD_BIN:-bin/skiffd}" agent --teardown >/dev/null || echo "warning: skiffd agent --teardown failed" >&2
# The pod network: the bridge and the node's masquerade chain
# (plugins/network/bridge), which outlive skiffd by design.
if ip link show skiff0 >/dev/null 2>&1; then
	ip link del skiff0
fi
chain=SKIFF-MASQ-SKIFF
if iptables -t nat -S "$chain" >/dev/null 2>&1; then
	iptables -t nat -S POSTROUTING | grep -- "-j $chain\$" | sed 's/^-A /-D /' | while read -r rule; do
		eval iptables -t nat "$rule"
	done
	iptables -t nat -F "$chain"
	iptables -t nat -X "$chain"
fi
rm -rf "$DATA_DIR"
# The private containerd's state (its socket and task state) of this node.
rm -rf "/run/skiff/skiff-$(hostname | tr 'A-Z' 'a-z')"
echo "removed the pod network and $DATA_DIR"
