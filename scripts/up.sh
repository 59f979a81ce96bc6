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
bin/skiff cluster-info

echo
echo "+ skiff apply -f conf/examples/k8s-docs.yaml"
bin/skiff apply -f conf/examples/k8s-docs.yaml
bin/skiff get deploy,svc -n docs
echo
echo "client config: $SKIFF_CONFIG (also ~/.skiff/config if it did not exist)"
