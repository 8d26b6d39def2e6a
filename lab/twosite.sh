#!/usr/bin/env bash
# The two-site lab: two multihomed sites, each behind its shim6d, joined by
# an "Internet" namespace that routes the four ISP prefixes.
#
#  s6a-host ── s6a-box ══ isp1 (2001:db8:1::/48) ══╗          ╔══ isp3 (2001:db8:3::/48) ══ s6b-box ── s6b-host
#  ::1:0:0:0:10          ══ isp2 (2001:db8:2::/48) ══╬ s6-inet ╬══ isp4 (2001:db8:4::/48) ══          ::3:0:0:0:20
#
# Host A 2001:db8:1::10 and its HBA 2001:db8:1:0:183b:cc4f:5e88:1b6e
#   (gateway 2001:db8:1::1, shim6d A's inside address)
# Host B 2001:db8:3::20 and its HBA 2001:db8:3:0:1c07:f9d3:8800:1dc
#   (gateway 2001:db8:3::1)
# Uplink links 2001:db8:fN::/64: the Internet router is ::1, the shim6d ::2.
#
#   twosite.sh up | down
#
# HA=1 twosite.sh up: site A is a redundant pair instead (README
# "Redundancy"): s6a-box (A1) and s6a2-box (A2) share each of site A's
# links through a bridge in s6a-sw, as two routers on a switched segment
# do, and a management link (a-mgmt, fd00:aa::1 and ::2) joins them for
# keepalived's VRRP and the context replication.
#
#                 ┌ s6a-box  (A1) ┐
#   s6a-host ─ br-in             br-up1 ─ i-a1 ─ s6-inet
#                 └ s6a2-box (A2) ┘  br-up2 ─ i-a2 ─┘
#                    └── br-mgmt ──┘
set -euo pipefail

NSS="s6a-host s6a-box s6a2-box s6a-sw s6-inet s6b-box s6b-host"
HBA_A=2001:db8:1:0:183b:cc4f:5e88:1b6e
HBA_B=2001:db8:3:0:1c07:f9d3:8800:1dc
ns() { ip netns exec "$@"; }
offloads_off() { ns "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true; }

# link NS1 DEV1 NS2 DEV2: a veth pair between two namespaces.
link() {
	# Made under temporary names: the root namespace may have an eth0.
	ip link add s6tmp0 type veth peer name s6tmp1
	ip link set s6tmp0 netns "$1"
	ip link set s6tmp1 netns "$3"
	ns "$1" ip link set s6tmp0 name "$2"
	ns "$3" ip link set s6tmp1 name "$4"
	for end in "$1 $2" "$3 $4"; do
		set -- $end
		ns "$1" ip link set "$2" up
		offloads_off "$1" "$2"
	done
}

# dpdk_owned NS DEV: the kernel must neither answer nor solicit on ports
# shim6d drives.
dpdk_owned() { ns "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"; }

down() { for n in $NSS; do ip netns del "$n" 2>/dev/null || true; done; }

# bridge NAME: a learning bridge in s6a-sw that forwards at once (no STP,
# no forwarding delay) and floods multicast to every port (no snooping),
# as the small switch between a redundant pair and its neighbours.
bridge() {
	ns s6a-sw ip link add "$1" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
	ns s6a-sw ip link set "$1" up
}

# port NS DEV BRIDGE: a veth from namespace NS (as DEV) into BRIDGE.
port() {
	local sw="s$((++nport))"
	link "$1" "$2" s6a-sw "$sw"
	ns s6a-sw ip link set "$sw" master "$3"
}

up() {
	down
	local nss="s6a-host s6a-box s6-inet s6b-box s6b-host"
	[ "${HA:-}" = 1 ] && nss="$nss s6a2-box s6a-sw"
	for n in $nss; do
		ip netns add "$n"
		ns "$n" ip link set lo up
		ns "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		ns "$n" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
	done
	if [ "${HA:-}" = 1 ]; then
		nport=0
		for b in br-in br-up1 br-up2 br-mgmt; do bridge $b; done
		port s6a-host eth0 br-in
		port s6-inet i-a1 br-up1
		port s6-inet i-a2 br-up2
		for box in s6a-box s6a2-box; do
			port $box a-in br-in
			port $box a-up1 br-up1
			port $box a-up2 br-up2
			port $box a-mgmt br-mgmt
			for d in a-in a-up1 a-up2; do dpdk_owned $box $d; done
		done
		ns s6a-box ip -6 addr add fd00:aa::1/64 dev a-mgmt nodad
		ns s6a2-box ip -6 addr add fd00:aa::2/64 dev a-mgmt nodad
	else
		link s6a-host eth0 s6a-box a-in
		link s6a-box a-up1 s6-inet i-a1
		link s6a-box a-up2 s6-inet i-a2
	fi
	link s6b-box b-up3 s6-inet i-b3
	link s6b-box b-up4 s6-inet i-b4
	link s6b-box b-in s6b-host eth0
	[ "${HA:-}" = 1 ] || for d in a-in a-up1 a-up2; do dpdk_owned s6a-box $d; done
	for d in b-in b-up3 b-up4; do dpdk_owned s6b-box $d; done

	ns s6a-host ip -6 addr add 2001:db8:1::10/64 dev eth0 nodad
	# The hosts' HBA addresses (lab/configs/site-*.toml [[hba]]): the ULIDs
	# of their Shim6 contexts.
	ns s6a-host ip -6 addr add $HBA_A/64 dev eth0 nodad
	ns s6a-host ip -6 route add default via 2001:db8:1::1 dev eth0
	ns s6b-host ip -6 addr add 2001:db8:3::20/64 dev eth0 nodad
	ns s6b-host ip -6 addr add $HBA_B/64 dev eth0 nodad
	ns s6b-host ip -6 route add default via 2001:db8:3::1 dev eth0

	ns s6-inet sysctl -qw net.ipv6.conf.all.forwarding=1
	local i=1
	for d in i-a1 i-a2 i-b3 i-b4; do
		ns s6-inet ip -6 addr add "2001:db8:f$i::1/64" dev $d nodad
		ns s6-inet ip -6 route add "2001:db8:$i::/48" via "2001:db8:f$i::2" dev $d
		i=$((i + 1))
	done
}

case "${1:-}" in
up) up ;;
down) down ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
