#!/usr/bin/env bash
# keepalived for the redundant pair of the HA lab (HA=1 lab/twosite.sh up):
# one VRRPv3 instance over IPv6 on the management link of each box, whose
# notify scripts tell the box's shim6d its role (shim6ctl ha ...), and
# which tracks that shim6d, so a box whose daemon died gives up the role.
#
#   ha.sh run BOX CONFIG LOG                      start shim6d in BOX, supervised
#   ha.sh keepalived BOX SOCKET PRIORITY          start keepalived in BOX
#   ha.sh stop BOX                                stop it (SIGTERM: priority 0)
#
# ADVERT (default 0.1) is the advertisement interval in seconds.
# PREEMPT=1 lets the higher priority take the role back when it returns.
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(realpath -m "${BIN:-../bin}")
RUN=/run/shim6d/ha
mkdir -p $RUN

keepalived_up() {
	local box=$1 sock=$2 prio=$3
	local conf=$RUN/$box.conf
	local preempt="nopreempt"
	[ "${PREEMPT:-}" = 1 ] && preempt="preempt_delay 0"
	cat >"$conf" <<CONF
global_defs {
	router_id $box
	script_user root
	enable_script_security
	vrrp_version 3
}
# The box's own shim6d, as a file its supervisor writes: 0 while it runs,
# 1 once it has exited (lab: ha.sh run; systemd: ExecStopPost). keepalived
# reads the file the moment it changes; its process tracking cannot be
# used here, as the kernel's process events reach only the first network
# namespace.
track_file shim6d {
	file "$RUN/$box.track"
	weight 0
	init_file 1
}
# The active role is a lease in shim6d ([ha] lease): renewed every
# second while this box is MASTER. A shim6d that does not answer fails
# it, and keepalived gives the role up; a keepalived that died renews
# nothing, and shim6d drops to standby by itself.
vrrp_script shim6d_lease {
	script "$BIN/shim6ctl ha --quiet --socket $sock lease"
	interval 1
	timeout 1
	fall 2
	rise 1
}
vrrp_instance site_a {
	state BACKUP
	$preempt
	interface a-mgmt
	virtual_router_id 61
	priority $prio
	advert_int ${ADVERT:-0.1}
	virtual_ipaddress {
		fe80::61/64 dev a-mgmt
	}
	track_file {
		shim6d
	}
	track_script {
		shim6d_lease
	}
	notify_master "$BIN/shim6ctl ha --socket $sock --why keepalived active"
	notify_backup "$BIN/shim6ctl ha --socket $sock --why keepalived standby"
	notify_fault "$BIN/shim6ctl ha --socket $sock --why keepalived fault"
}
CONF
	# In the foreground of a background shell, so its log is the file's.
	ip netns exec "$box" keepalived -f "$conf" -P -p $RUN/$box.pid -r $RUN/$box-vrrp.pid -G \
		-n -l -D >$RUN/$box.log 2>&1 </dev/null &
}

# run BOX CONFIG LOG: shim6d in BOX, supervised: the track file says 0
# while it runs and 1 from the moment it exits, however it exits. Prints
# the daemon's PID.
run() {
	local box=$1 cfg=$2 log=$3
	rm -f $RUN/$box.shim6d.pid
	(
		echo 0 >$RUN/$box.track
		ip netns exec "$box" "$BIN/shim6d" --config "$cfg" >"$log" 2>&1 &
		echo $! >$RUN/$box.shim6d.pid
		wait $! || true
		echo 1 >$RUN/$box.track
	) >/dev/null 2>&1 &
	for _ in $(seq 50); do [ -s $RUN/$box.shim6d.pid ] && break; sleep 0.02; done
	cat $RUN/$box.shim6d.pid
}

case "${1:-}" in
keepalived) shift; keepalived_up "$@" ;;
run) shift; run "$@" ;;
stop) [ -f $RUN/$2.pid ] && kill "$(cat $RUN/$2.pid)" 2>/dev/null || true ;;
*) echo "usage: $0 run BOX CONFIG LOG | keepalived BOX SOCKET PRIORITY | stop BOX" >&2; exit 2 ;;
esac
