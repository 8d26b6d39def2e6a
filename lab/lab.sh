#!/usr/bin/env bash
# The one-site lab: a host behind shim6d and an ISP router with a server.
#
#   s6-host                 s6-mbox (shim6d, DPDK af_packet)          s6-isp1
#   eth0 2001:db8:1::10 ─── s6in [inside]      [isp1] s6up1 ─── eth0 2001:db8:ffff:1::1
#   default via ::1                                                lo   2001:db8:ff::1 (server)
#                                                                  route 2001:db8:1::/48 via ffff:1::2
#
# shim6d owns s6in and s6up1 through net_af_packet; the kernel in s6-mbox has
# IPv6 disabled on them so that it neither answers nor solicits there.
#
#   lab.sh up     create the namespaces (idempotent: tears down leftovers first)
#   lab.sh down   remove them
set -euo pipefail

NS_HOST=s6-host
NS_MBOX=s6-mbox
NS_ISP=s6-isp1

ns() { ip netns exec "$@"; }

# offloads_off: veths hand TCP segments around with partial checksums and
# as super-packets; af_packet then sees frames no wire would carry.
offloads_off() {
	local netns=$1 dev=$2
	ns "$netns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

down() {
	for n in $NS_HOST $NS_MBOX $NS_ISP; do
		ip netns del "$n" 2>/dev/null || true
	done
}

up() {
	down
	for n in $NS_HOST $NS_MBOX $NS_ISP; do
		ip netns add "$n"
		ns "$n" ip link set lo up
	done
	ip link add s6h0 type veth peer name s6in
	ip link set s6h0 netns $NS_HOST
	ip link set s6in netns $NS_MBOX
	ip link add s6r0 type veth peer name s6up1
	ip link set s6r0 netns $NS_ISP
	ip link set s6up1 netns $NS_MBOX

	ns $NS_HOST ip link set s6h0 name eth0
	ns $NS_ISP ip link set s6r0 name eth0

	for d in s6in s6up1; do
		ns $NS_MBOX sysctl -qw net.ipv6.conf.$d.disable_ipv6=1
		ns $NS_MBOX ip link set $d up
		offloads_off $NS_MBOX $d
	done
	for n in $NS_HOST $NS_ISP; do
		# No DAD delay: the lab should be usable at once.
		ns $n sysctl -qw net.ipv6.conf.eth0.accept_dad=0
		ns $n sysctl -qw net.ipv6.conf.eth0.accept_ra=0
		ns $n ip link set eth0 up
		offloads_off $n eth0
	done
	ns $NS_HOST ip -6 addr add 2001:db8:1::10/64 dev eth0 nodad
	ns $NS_HOST ip -6 route add default via 2001:db8:1::1 dev eth0
	ns $NS_ISP ip -6 addr add 2001:db8:ffff:1::1/64 dev eth0 nodad
	ns $NS_ISP ip -6 addr add 2001:db8:ff::1/128 dev lo
	ns $NS_ISP ip -6 route add 2001:db8:1::/48 via 2001:db8:ffff:1::2 dev eth0
}

case "${1:-}" in
up) up ;;
down) down ;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
