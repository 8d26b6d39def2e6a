#!/usr/bin/env bash
# make run: the mission. Two multihomed sites, each behind its shim6d
# (lab/twosite.sh); host A streams to host B over TCP; ISP1 silently stops
# carrying packets (an nftables drop in the Internet namespace: no link goes
# down); REAP finds another locator pair and the same TCP connection carries
# on. Prints a timeline and both daemons' contexts; cleans up on exit.
#
#   CUT=blackhole lab/failover.sh   # cut with blackhole routes instead
#   CUT=none lab/failover.sh        # no cut: the transfer alone (a check that
#                                   # nothing explores without a failure)
#   CUT=linkdown lab/failover.sh    # take isp1's link down: shim6d sees the
#                                   # carrier go and explores at once
#   SEND_TIMEOUT=15s lab/failover.sh  # REAP's Send Timeout (RFC 5534's
#                                   # default is 15 s; the lab's 1 s)
#   ULP_ADVICE=false lab/failover.sh  # [shim] ulp_advice: whether TCP's
#                                   # retransmissions start exploration
#                                   # (default true)
set -euo pipefail
cd "$(dirname "$0")"
BIN=${BIN:-../bin}
BYTES=${BYTES:-62914560} # 60 MB
MBPS=${MBPS:-100}        # paced, so the cut lands mid-transfer
HA=2001:db8:1:0:183b:cc4f:5e88:1b6e
HB=2001:db8:3:0:1c07:f9d3:8800:1dc
SA=/run/shim6d/site-a.sock
SB=/run/shim6d/site-b.sock
LOGA=$(mktemp /tmp/shim6d-site-a.XXXXXX.log)
LOGB=$(mktemp /tmp/shim6d-site-b.XXXXXX.log)
pids=()

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	sleep 1
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	./twosite.sh down
	[ -n "${SEND_TIMEOUT:-}${ULP_ADVICE:-}" ] && rm -f "${CFGA:-}" "${CFGB:-}"
	echo "daemon logs: $LOGA $LOGB"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s.%N)
ts() { awk -v t0="$t0" -v t="$(date +%s.%N)" 'BEGIN { printf "%7.3f s", t - t0 }'; }
say() { printf '[%s] %s\n' "$(ts)" "$*"; }

./twosite.sh up
say "lab up: host A $HA (isp1, isp2) — Internet — host B $HB (isp3, isp4)"
CFGA=configs/site-a.toml
CFGB=configs/site-b.toml
case "${ULP_ADVICE:-}" in
"" | true | false) ;;
*) echo "ULP_ADVICE=$ULP_ADVICE: write true or false" >&2; exit 2 ;;
esac
if [ -n "${SEND_TIMEOUT:-}${ULP_ADVICE:-}" ]; then
	CFGA=$(mktemp /tmp/shim6d-site-a.XXXXXX.toml)
	CFGB=$(mktemp /tmp/shim6d-site-b.XXXXXX.toml)
	edits=()
	[ -n "${SEND_TIMEOUT:-}" ] && edits+=(-e "s/^send_timeout = .*/send_timeout = \"$SEND_TIMEOUT\"/")
	[ -n "${ULP_ADVICE:-}" ] && edits+=(-e "/^send_timeout = /a ulp_advice = $ULP_ADVICE")
	sed "${edits[@]}" configs/site-a.toml >"$CFGA"
	sed "${edits[@]}" configs/site-b.toml >"$CFGB"
fi
ip netns exec s6a-box "$BIN/shim6d" --config "$CFGA" >"$LOGA" 2>&1 &
pids+=($!)
ip netns exec s6b-box "$BIN/shim6d" --config "$CFGB" >"$LOGB" 2>&1 &
pids+=($!)
for s in $SA $SB; do
	for _ in $(seq 100); do "$BIN/shim6ctl" status --socket $s >/dev/null 2>&1 && break; sleep 0.1; done
done
say "shim6d A and B running (REAP Send Timeout ${SEND_TIMEOUT:-1s}, ULP advice ${ULP_ADVICE:-true})"

ip netns exec s6a-host ping -6 -c 4 -i 0.2 -W 2 -I $HA $HB >/dev/null
for _ in $(seq 50); do
	"$BIN/shim6ctl" contexts --socket $SA | grep -q ESTABLISHED && break
	sleep 0.1
done
say "context established by the hosts' traffic (I1/R1/I2/R2, HBA locator sets verified)"

ip netns exec s6b-host "$BIN/tcpcheck" serve -listen "[$HB]:5001" -bytes "$BYTES" -timeout 120s >/tmp/shim6d-failover.json &
srv=$!
sleep 0.3
ip netns exec s6a-host "$BIN/tcpcheck" send -to "[$HB]:5001" -from $HA -bytes "$BYTES" -mbps "$MBPS" -timeout 120s &
snd=$!
say "TCP transfer started: $BYTES bytes at $MBPS Mbit/s, every byte verified at B"
sleep 1.5

if [ "${CUT:-nft}" = none ]; then
	say "no cut: the transfer runs on undisturbed"
elif [ "${CUT:-nft}" = linkdown ]; then
	ip netns exec s6-inet ip link set i-a1 down
	say "ISP1 cut: its link goes down (site A's a-up1 loses carrier)"
elif [ "${CUT:-nft}" = blackhole ]; then
	ip netns exec s6-inet ip -6 route replace blackhole 2001:db8:1::/48
	ip netns exec s6-inet ip -6 route add blackhole 2001:db8:3::/48 from 2001:db8:1::/48 2>/dev/null || true
	say "ISP1 cut: blackhole route for 2001:db8:1::/48 in the Internet"
else
	ip netns exec s6-inet nft add table ip6 cut
	ip netns exec s6-inet nft add chain ip6 cut c '{ type filter hook forward priority 0; }'
	ip netns exec s6-inet nft add rule ip6 cut c iifname i-a1 drop
	ip netns exec s6-inet nft add rule ip6 cut c oifname i-a1 drop
	say "ISP1 cut: nftables drops everything through isp1's link, both ways (no link signal)"
fi

# Watch for the switch.
for _ in $(seq 100); do
	if grep -q "switched locator pair" "$LOGA" 2>/dev/null; then
		say "pair switched: $(grep -m1 'switched locator pair' "$LOGA" | sed 's/.*slot=/slot=/')"
		break
	fi
	sleep 0.05
done
wait $snd
wait $srv || true
say "transfer done: $(cat /tmp/shim6d-failover.json)"
awk -F'[:,]' '{ for (i = 1; i < NF; i++) if ($i ~ /max_stall_ms/) printf "  stall: %s ms (longest gap between received chunks)\n", $(i+1) }' /tmp/shim6d-failover.json

printf '\n== shim6ctl contexts (site A)\n'
"$BIN/shim6ctl" contexts --socket $SA
printf '\n== shim6ctl contexts (site B)\n'
"$BIN/shim6ctl" contexts --socket $SB
printf '\n== shim6ctl uplinks (site A)\n'
"$BIN/shim6ctl" uplinks --socket $SA
printf '\n== shim6ctl context 0 (site A)\n'
"$BIN/shim6ctl" context --socket $SA 0
printf '\n== REAP and signalling counters (site A)\n'
"$BIN/shim6ctl" stats --socket $SA | grep -E "failovers|signal_|shim6_handshakes_completed|probe|ulp" || true
