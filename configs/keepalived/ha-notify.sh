#!/bin/sh
# ha-notify.sh ROLE: keepalived's notify script for shim6d (see
# keepalived.conf.example). It tells the local shim6d its new role with
# `shim6ctl ha ROLE`. ROLE is active, standby or fault.
#
# A shim6d still starting may not answer yet: a few tries, 0.2 s apart.
# If it never answers, an active role is not taken, and keepalived's
# shim6d_lease script fails too and moves the role on.
set -u
SHIM6CTL=${SHIM6CTL:-/usr/bin/shim6ctl}

case "${1:-}" in
active | standby | fault) role=$1 ;;
*)
	echo "usage: $0 active|standby|fault" >&2
	exit 2
	;;
esac

for try in 1 2 3 4 5; do
	if "$SHIM6CTL" ha --quiet --why "keepalived: $role" "$role"; then
		exit 0
	fi
	sleep 0.2
done
logger -t shim6d-ha "shim6ctl ha $role failed 5 times; is shim6d running?" 2>/dev/null
exit 1
