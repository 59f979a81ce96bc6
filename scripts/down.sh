#!/usr/bin/env bash
# Stops the skiffd started by scripts/up.sh (its data stays in the data dir).
set -euo pipefail
DATA_DIR=${SKIFF_DATA_DIR:-/var/lib/skiff}
PIDFILE=$DATA_DIR/skiffd.pid
[ -f "$PIDFILE" ] || { echo "skiffd is not running (no $PIDFILE)"; exit 0; }
pid=$(cat "$PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
	kill -TERM "$pid"
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$PIDFILE"
echo "skiffd stopped"
