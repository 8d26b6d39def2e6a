#!/usr/bin/env bash
# make run-ha: the redundant pair. Site A is two shim6d boxes, A1 active and
# A2 standby (HA=1 lab/twosite.sh), each under keepalived (lab/ha.sh), A1
# replicating its contexts to A2; site B is one box as in make run. Host A
# streams to host B over TCP; A1 dies mid-transfer; keepalived makes A2
# active, A2 forwards from the contexts it was sent, and the same TCP
# connection carries on. Prints a timeline and, last, one JSON line with the
# figures (lab/ha_test.go reads it).
#
#   KILL=box lab/failover-ha.sh      # A1's shim6d, its keepalived and its
#                                    # links die at once (default)
#   KILL=daemon lab/failover-ha.sh   # only A1's shim6d dies: keepalived
#                                    # sees it (track file) and gives up
#   REPLICATION=false lab/failover-ha.sh  # roles only: A2 starts with no
#                                    # context, the protocol recovers
#   ADVERT=0.1                       # VRRP advertisement interval, seconds
set -euo pipefail
cd "$(dirname "$0")"
BIN=$(realpath -m "${BIN:-../bin}")
export BIN ADVERT
BYTES=${BYTES:-41943040} # 40 MB
MBPS=${MBPS:-100}        # paced, so the death lands mid-transfer
KILL=${KILL:-box}
REPLICATION=${REPLICATION:-true}
case "$KILL" in box | daemon) ;; *) echo "KILL=$KILL: write box or daemon" >&2; exit 2 ;; esac
case "$REPLICATION" in true | false) ;; *) echo "REPLICATION=$REPLICATION: write true or false" >&2; exit 2 ;; esac
HA=2001:db8:1:0:183b:cc4f:5e88:1b6e
HB=2001:db8:3:0:1c07:f9d3:8800:1dc
RUN=/run/shim6d/ha
S1=$RUN/a1.sock
S2=$RUN/a2.sock
SB=$RUN/b.sock
mkdir -p $RUN
WORK=$(mktemp -d /tmp/shim6d-ha.XXXXXX)
pids=()

cleanup() {
	set +e
	./ha.sh stop s6a-box
	./ha.sh stop s6a2-box
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null; done
	sleep 1
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	./twosite.sh down
	echo "logs: $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s.%N)
now() { date +%s.%N; }
ts() { awk -v t0="$t0" -v t="$(now)" 'BEGIN { printf "%7.3f s", t - t0 }'; }
say() { printf '[%s] %s\n' "$(ts)" "$*"; }
ctl() { "$BIN/shim6ctl" "$@"; }
# py EXPR: EXPR of stdin's JSON (as j), printed; empty when that fails.
py() { python3 -c "import json,sys
try:
	j = json.load(sys.stdin)
	print($1)
except Exception: pass" 2>/dev/null; }
role() { ctl ha --json --socket "$1" 2>/dev/null | py 'j["role"]'; }
# uplinks_sent SOCKET: the packets the box's uplinks have sent.
uplinks_sent() { ctl ports --json --socket "$1" 2>/dev/null |
	py 'sum(p["tx_packets"] for p in j if p["role"] == "uplink")'; }
# handshakes SOCKET: the Shim6 exchanges that made or re-made a context at
# the box, whichever end began them.
handshakes() { ctl stats --json --socket "$1" 2>/dev/null | py 'sum(j["control"].get("shim6_"+k, 0) for k in
	("handshakes_completed", "responder_contexts", "recoveries_completed", "recovered_contexts"))'; }

HA=1 ./twosite.sh up
say "lab up: host A $HA behind A1 (active) and A2 (standby) — Internet — host B $HB"

# The pair's configs: site A's, with each box's own MACs, the ports'
# shared virtual MACs, and [ha]; the key both boxes share.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >$WORK/ha.key
chmod 600 $WORK/ha.key
box_config() { # N OWN PEER
	sed -e "s/shim6d-site-a\"/shim6d-site-a$1\"/" \
		-e "s#^admin_socket = .*#admin_socket = \"$RUN/a$1.sock\"#" \
		-e "s/^name = \"inside\"/&\nmac = \"02:a$1:00:00:00:01\"\nvirtual_mac = \"00:00:5e:00:02:01\"/" \
		-e "s/^name = \"isp1\"/&\nmac = \"02:a$1:00:00:00:02\"\nvirtual_mac = \"00:00:5e:00:02:02\"/" \
		-e "s/^name = \"isp2\"/&\nmac = \"02:a$1:00:00:00:03\"\nvirtual_mac = \"00:00:5e:00:02:03\"/" \
		configs/site-a.toml
	cat <<TOML

[ha]
enabled = true
listen = "[fd00:aa::$2]:7600"
peer = "[fd00:aa::$3]:7600"
key_file = "$WORK/ha.key"
replication = $REPLICATION
TOML
}
box_config 1 1 2 >$WORK/a1.toml
box_config 2 2 1 >$WORK/a2.toml
sed "s#^admin_socket = .*#admin_socket = \"$SB\"#" configs/site-b.toml >$WORK/b.toml

p1=$(./ha.sh run s6a-box $WORK/a1.toml $WORK/a1.log)
p2=$(./ha.sh run s6a2-box $WORK/a2.toml $WORK/a2.log)
ip netns exec s6b-box "$BIN/shim6d" --config $WORK/b.toml >$WORK/b.log 2>&1 &
pids+=($p1 $p2 $!)
for s in $S1 $S2 $SB; do
	for _ in $(seq 100); do ctl status --socket $s >/dev/null 2>&1 && break; sleep 0.1; done
done
say "shim6d A1, A2 and B running; A1 and A2 standby until keepalived speaks"
./ha.sh keepalived s6a-box $S1 150
sleep 0.3
./ha.sh keepalived s6a2-box $S2 100
for _ in $(seq 100); do [ "$(role $S1)" = active ] && [ "$(role $S2)" = standby ] && break; sleep 0.1; done
[ "$(role $S1)" = active ] || { echo "A1 did not become active: $(role $S1)/$(role $S2)" >&2; exit 1; }
say "keepalived: A1 active, A2 standby (VRRPv3, advert ${ADVERT:-0.1} s)"

ip netns exec s6a-host ping -6 -c 4 -i 0.2 -W 2 -I $HA $HB >/dev/null
for _ in $(seq 50); do ctl contexts --socket $S1 | grep -q ESTABLISHED && break; sleep 0.1; done
say "context established through A1"
if [ "$REPLICATION" = true ]; then
	replicas() { ctl ha --json --socket $S2 | py 'j["replication_state"]["replicas"]'; }
	for _ in $(seq 50); do [ "$(replicas)" -ge 1 ] 2>/dev/null && break; sleep 0.1; done
	say "A2 holds $(replicas) replicated context(s), applied from A1's stream"
fi
hs0=$(( $(handshakes $S2) + $(handshakes $SB) ))

# What reaches host B of the transfer, to count copies: segments that
# arrive twice within 5 ms (TCP's own retransmissions come later: an RTO,
# 200 ms or more; a tail loss probe, 10 ms or more). The lab makes a few
# without any pair: one box, no failure, 1 copy 2 us apart in 29,000
# segments; so these are reported, and the double forwarding that only
# both boxes active could cause is looked for with pings while both may
# be (below).
ip netns exec s6b-host tshark -q -i eth0 -f "ip6 src $HA and tcp dst port 5001" -s 128 -w $WORK/b.pcap 2>/dev/null &
tsh=$!
pids+=($tsh)
ip netns exec s6b-host "$BIN/tcpcheck" serve -listen "[$HB]:5001" -bytes "$BYTES" -timeout 120s >$WORK/transfer.json &
srv=$!
sleep 1.5 # tshark opens the interface
ip netns exec s6a-host "$BIN/tcpcheck" send -to "[$HB]:5001" -from $HA -bytes "$BYTES" -mbps "$MBPS" -timeout 120s &
snd=$!
say "TCP transfer started: $BYTES bytes at $MBPS Mbit/s, every byte verified at B"
sleep 1.5

tx2=$(uplinks_sent $S2)
tkill=$(now)
if [ "$KILL" = box ]; then
	kill -9 "$(cat $RUN/s6a-box-vrrp.pid)" "$(cat $RUN/s6a-box.pid)" "$p1" 2>/dev/null || true
	for d in a-in a-up1 a-up2 a-mgmt; do ip netns exec s6a-box ip link set $d down; done
	say "A1 dies whole: kill -9 of its shim6d and keepalived, its links down"
else
	kill -9 "$p1"
	say "A1's shim6d dies (kill -9); its keepalived lives on"
fi

tactive=""
for _ in $(seq 500); do
	# When A2 became active, by its own clock: the poll is coarser.
	[ -z "$tactive" ] && [ "$(role $S2)" = active ] &&
		tactive=$(ctl ha --json --socket $S2 | py 'j["since"]' | xargs -I{} date -d {} +%s.%N)
	[ -n "$tactive" ] && break
	sleep 0.01
done
since() { [ -n "$1" ] && awk -v a="$tkill" -v b="$1" 'BEGIN { printf "%.3f", b - a }' || echo null; }
say "A2 active $(since "$tactive") s after the death (by its own clock)"

wait $snd || true
wait $srv || true
say "transfer done: $(cat $WORK/transfer.json)"
kill -INT $tsh 2>/dev/null; wait $tsh 2>/dev/null || true
dups=$(tshark -r $WORK/b.pcap -T fields -e frame.time_epoch -e tcp.seq_raw -e tcp.len -Y "tcp.len > 0" 2>/dev/null | python3 -c "
import sys
last, dups = {}, 0
for line in sys.stdin:
	t, seq, n = line.split()
	k = (seq, n)
	if k in last and float(t) - last[k] < 0.005:
		dups += 1
	last[k] = float(t)
print(dups)")
say "segments host B received twice within 5 ms: $dups (the lab's own rate: about 1 in 29,000)"
fwd=$(( $(uplinks_sent $S2) - tx2 ))
say "A2 sent $fwd packets on its uplinks after the death"
hs=$(( $(handshakes $S2) + $(handshakes $SB) - hs0 ))
say "handshakes after the death (A2 and B, either end): $hs"
printf '\n== shim6ctl ha (A2)\n'
ctl ha --socket $S2
printf '\n== shim6ctl contexts (A2)\n'
ctl contexts --socket $S2
echo

# After the takeover (AFTER=0 skips it; with replication only): A1 comes
# back and rejoins as standby; the replication stream is cut while both
# run, and resumes; then the active box's keepalived goes silent, and
# its shim6d gives the role up by itself when its lease runs out.
after=null
# elapsed CMD...: seconds until CMD succeeds (polled), or null after 15 s;
# counted from FROM when set.
elapsed() {
	local t=${FROM:-$(now)} end=$(($(date +%s) + 15))
	while [ "$(date +%s)" -lt $end ]; do
		"$@" && { awk -v a="$t" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; return; }
		sleep 0.05
	done
	echo null
}
rstate() { ctl ha --json --socket "$1" 2>/dev/null | py "j['replication_state']['$2']"; }
# pingok: host A reaches host B, each echo answered once ("+N duplicates"
# would say both boxes forwarded it).
pingok() {
	local out
	out=$(ip netns exec s6a-host ping -6 -c 5 -i 0.2 -W 2 -I $HA $HB)
	grep -q " 0% packet loss" <<<"$out" && ! grep -q duplicates <<<"$out"
}
if [ "${AFTER:-1}" = 1 ] && [ "$REPLICATION" = true ]; then
	n2=$(ctl contexts --socket $S2 | grep -c ESTABLISHED)
	if [ "$KILL" = box ]; then
		for d in a-in a-up1 a-up2 a-mgmt; do ip netns exec s6a-box ip link set $d up; done
		# Its link went down, and the kernel dropped its IPv6 address.
		ip netns exec s6a-box ip -6 addr replace fd00:aa::1/64 dev a-mgmt nodad
	fi
	p1=$(./ha.sh run s6a-box $WORK/a1.toml $WORK/a1-back.log)
	pids+=($p1)
	for _ in $(seq 100); do ctl status --socket $S1 >/dev/null 2>&1 && break; sleep 0.1; done
	# A whole box comes back with its keepalived; after a daemon's death
	# the box's keepalived ran on and sees the track file say 0 again.
	[ "$KILL" = box ] && ./ha.sh keepalived s6a-box $S1 150
	synced() { [ "$(role $S1)" = standby ] && [ "$(rstate $S1 state)" = in-sync ] && [ "$(rstate $S1 replicas)" = "$n2" ]; }
	rejoin=$(elapsed synced)
	say "A1 back: $(role $S1), $(rstate $S1 replicas) replica(s) of A2's $n2 context(s), in sync ${rejoin} s after its start (no preempt)"

	ip netns exec s6a-box nft add table inet repl
	ip netns exec s6a-box nft add chain inet repl c '{ type filter hook input priority 0; }'
	ip netns exec s6a-box nft add rule inet repl c tcp sport 7600 drop
	resyncs=$(rstate $S1 resyncs)
	is_stale() { [ "$(rstate $S1 state)" = stale ]; }
	stale=$(elapsed is_stale)
	pingok && fwdok=true || fwdok=false
	say "replication stream cut (TCP from the active dropped at A1): A1 reports stale after ${stale} s; traffic through A2 goes on: $fwdok"
	ip netns exec s6a-box nft delete table inet repl
	resynced() { [ "$(rstate $S1 state)" = in-sync ] && [ "$(rstate $S1 resyncs)" -gt "$resyncs" ]; }
	resync=$(elapsed resynced)
	say "stream back: A1 resynced (snapshot) ${resync} s later, $(rstate $S1 replicas) replica(s)"

	tstop=$(now)
	kill -STOP "$(cat $RUN/s6a2-box-vrrp.pid)" "$(cat $RUN/s6a2-box.pid)"
	# Pings every 20 ms across the time both boxes may hold the role
	# (until A2's lease runs out): an echo forwarded by both comes back
	# twice, which ping reports as "+N duplicates".
	ip netns exec s6a-host ping -6 -c 250 -i 0.02 -W 1 -I $HA $HB >$WORK/silent-ping.txt 2>&1 &
	sping=$!
	a1_active() { [ "$(role $S1)" = active ]; }
	a1active=$(FROM=$tstop elapsed a1_active)
	a2_standby() { [ "$(role $S2)" = standby ]; }
	lease=$(FROM=$tstop elapsed a2_standby)
	wait $sping || true
	sdups=$(sed -n 's/.*+\([0-9]*\) duplicates.*/\1/p' $WORK/silent-ping.txt)
	sdups=${sdups:-0}
	say "pings across the overlap: $(grep -m1 'packets transmitted' $WORK/silent-ping.txt)"
	pingok && fwdok2=true || fwdok2=false
	say "A2's keepalived stopped (SIGSTOP): A1 active after ${a1active} s; A2 gave up the role after ${lease} s ($(ctl ha --json --socket $S2 | py 'j["reason"]')); traffic: $fwdok2"
	kill -CONT "$(cat $RUN/s6a2-box-vrrp.pid)" "$(cat $RUN/s6a2-box.pid)"
	after=$(printf '{"rejoin_s":%s,"stale_s":%s,"stale_traffic":%s,"resync_s":%s,"silent_takeover_s":%s,"lease_drop_s":%s,"silent_traffic":%s,"silent_duplicates":%s}' \
		"$rejoin" "$stale" "$fwdok" "$resync" "$a1active" "$lease" "$fwdok2" "$sdups")
fi
printf '{"kill":"%s","replication":%s,"takeover_s":%s,"a2_sent":%s,"handshakes":%s,"duplicates":%s,"after":%s,"transfer":%s}\n' \
	"$KILL" "$REPLICATION" "$(since "$tactive")" "$fwd" "$hs" "${dups:-null}" "$after" "$(cat $WORK/transfer.json)"
