#!/usr/bin/env bash
# Brings up a one-node skiff cluster in the background and deploys the
# example app. Run through `sudo make up`; `sudo scripts/down.sh` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_DIR=${SKIFF_DATA_DIR:-/var/lib/skiff}
LOG=$DATA_DIR/skiffd.log
PIDFILE=$DATA_DIR/skiffd.pid
export SKIFF_CONFIG=$DATA_DIR/admin.conf
mkdir -p "$DATA_DIR"

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	echo "skiffd is already running (pid $(cat "$PIDFILE"))"
else
	nohup bin/skiffd server --data-dir "$DATA_DIR" >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	echo "skiffd started (pid $!), log: $LOG"
fi

for _ in $(seq 1 60); do
	if [ -f "$SKIFF_CONFIG" ] && bin/skiff get namespaces >/dev/null 2>&1; then
		break
	fi
	sleep 0.5
done
ready=0
for _ in $(seq 1 120); do
	if bin/skiff get nodes --no-headers 2>/dev/null | grep -q ' Ready '; then
		ready=1
		break
	fi
	sleep 0.5
done
bin/skiff cluster-info
if [ "$ready" = 0 ]; then
	echo "the node agent did not become Ready within a minute; see $LOG" >&2
	exit 1
fi
bin/skiff get nodes -o wide

echo
echo "+ building and importing the example image"
go run ./test/images/cmd/build-example -o bin/images/web.tar
bin/skiff image import bin/images/web.tar

echo
echo "+ skiff apply -f conf/examples/web.yaml"
bin/skiff apply -f conf/examples/web.yaml
running=0
for _ in $(seq 1 120); do
	running=$(bin/skiff get pods -l app=web --no-headers 2>/dev/null | grep -c ' Running ' || true)
	[ "$running" -ge 3 ] && break
	sleep 1
done
bin/skiff get pods -l app=web -o wide
if [ "$running" -lt 3 ]; then
	echo "web: only $running/3 pods Running after 2 minutes; see $LOG and 'skiff describe pods -l app=web'" >&2
	exit 1
fi
pod=$(bin/skiff get pods -l app=web -o name | awk 'NR==1')
ip=$(bin/skiff get "$pod" -o json | sed -n 's/.*"podIP": *"\([^"]*\)".*/\1/p' | awk 'NR==1')
echo
echo "+ wget -qO- http://$ip:8080/"
wget -qO- "http://$ip:8080/" || curl -fsS "http://$ip:8080/"
echo
bin/skiff get svc/web ep/web
vip=$(bin/skiff get svc web -o json | sed -n 's/.*"clusterIP": *"\([^"]*\)".*/\1/p' | awk 'NR==1')
echo "+ wget -qO- http://$vip/   (the Service's cluster IP, through the iptables proxy)"
for _ in $(seq 1 30); do
	timeout 3 wget -qO- "http://$vip/" 2>/dev/null && break
	sleep 1
done
echo
# The Kubernetes-docs example needs images from Docker Hub; apply it only
# when asked (SKIFF_K8S_DOCS=1) and when this machine can pull them.
if [ "${SKIFF_K8S_DOCS:-0}" = 1 ]; then
	bin/skiff apply -f conf/examples/k8s-docs.yaml
fi
echo
echo "client config: $SKIFF_CONFIG (also ~/.skiff/config if it did not exist)"
echo "try: bin/skiff get po -o wide; bin/skiff logs ${pod#pod/}; bin/skiff exec ${pod#pod/} -- cat /etc/hostname"
echo "stop: sudo scripts/down.sh (pods keep running), or sudo scripts/down.sh --purge (removes everything)"
