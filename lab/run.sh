#!/usr/bin/env bash
# make run: bring the one-site lab up, run shim6d on it with the embedded lab
# configuration, and show what it does: ND, ping, a verified 100 MB TCP
# transfer, and the daemon's own view. Cleans up on exit or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
BYTES=${BYTES:-104857600}
SOCK=/run/shim6d/lab.sock
LOG=$(mktemp /tmp/shim6d-lab.XXXXXX.log)
pid=""

cleanup() {
	set +e
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid"
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	lab/lab.sh down
	echo "daemon log: $LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "lab: host (s6-host) -- shim6d (s6-mbox) -- ISP router + server (s6-isp1)"
lab/lab.sh up

step "starting shim6d with the embedded lab configuration"
ip netns exec s6-mbox "$BIN/shim6d" >"$LOG" 2>&1 &
pid=$!
for _ in $(seq 100); do
	"$BIN/shim6ctl" status --socket $SOCK >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$LOG"; echo "shim6d exited" >&2; exit 1; }
	sleep 0.1
done
"$BIN/shim6ctl" status --socket $SOCK

step "ping from the host to the server, through shim6d"
ip netns exec s6-host ping -6 -c 5 -i 0.2 -W 2 2001:db8:ff::1

step "ping shim6d's own inside address"
ip netns exec s6-host ping -6 -c 2 -i 0.2 -W 2 2001:db8:1::1

step "TCP: $BYTES bytes host -> server, every byte verified"
ip netns exec s6-isp1 "$BIN/tcpcheck" serve -listen '[2001:db8:ff::1]:5001' -bytes "$BYTES" >/tmp/shim6d-lab-result.json &
srv=$!
sleep 0.3
ip netns exec s6-host "$BIN/tcpcheck" send -to '[2001:db8:ff::1]:5001' -bytes "$BYTES"
wait $srv || true
cat /tmp/shim6d-lab-result.json

step "shim6ctl ports"
"$BIN/shim6ctl" ports --socket $SOCK
step "shim6ctl neighbors"
"$BIN/shim6ctl" neighbors --socket $SOCK
step "shim6ctl stats"
"$BIN/shim6ctl" stats --socket $SOCK
