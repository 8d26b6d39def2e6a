#!/usr/bin/env bash
# make bench: shim6d against DPDK's own C programs, in one run, on the same
# virtual devices and cores:
#   I/O ceiling: dpdk-testpmd io and macswap (they look nothing up)
#   C peers:     l3fwd (DPDK's example router, built here from Debian's
#                dpdk-doc source with bench/l3fwd.patch): -L (IPv6 LPM)
#                beside shim6d forwarding, -E --ipv6 (exact match on the
#                5-tuple) beside shim6d rewriting
#   sources:     net_pcap replaying a pcap of IPv6/UDP packets (infinite_rx=1),
#                or bench/gen/shim6gen, which cycles through NCTX contexts
#   sink:        net_null (no-rx=1)
# Hugepages are reserved for the run when the kernel allows it (they lift
# every figure; DESIGN.md §10) and given back afterwards.
#
# WORKERS=2 adds rows with two forwarding cores for each program (two rx
# queues on the source); on a 2-core machine the second shares a core with
# the control core or main lcore.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DUR=${DUR:-6}          # seconds measured per contender and round
WARM=${WARM:-3}        # seconds of warm-up before measuring
PAIRSEC=${PAIRSEC:-0.5} # seconds a side of the paired TCP row runs at a time
# Rounds: the contenders take turns, ROUNDS times, and the table gives each
# one's median. On a shared VM the machine's speed drifts by tens of
# percent over minutes; turns spread that drift over all contenders, where
# one run each would compare different moments.
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-1}
case $WORKERS in 1 | 2) ;; *) echo "WORKERS=$WORKERS: write 1 or 2" >&2; exit 2 ;; esac
# PERF=1 also profiles each contender's forwarding core (perf, cpu-clock)
# while it is measured, and reports the time it spends outside the PMDs
# per unit of time inside them. Both sides of that fraction slow down
# together when the machine does, so it is steadier than Mpps here.
PERF=${PERF:-}
OUT=bench/out
mkdir -p $OUT
if [ -n "$PERF" ] && ! command -v perf >/dev/null; then
	echo "PERF=1 needs perf (Debian: linux-perf)" >&2
	exit 2
fi
OUTABS=$(pwd)/$OUT
PCAP=$OUTABS/ipv6-udp.pcap
NCTX=${NCTX:-1000000}  # contexts for the shim rows, l3fwd entries and shim6gen's cycle
# Traffic of 8192 packets over the first NCTX synthetic contexts' ULID pairs
# (control/synth): forwarded plain while shim6d holds no contexts, rewritten
# (locators + payload header) once it does. l3fwd's exact-match table gets
# one rule for each packet's 5-tuple.
"$BIN/pcapgen" -o "$PCAP" -n 8192 -size 78 -synth "$NCTX" -seed 1 -rules $OUT/em-pcap.rules
# The same table, with traffic over only its first HOT contexts: lines
# that stay in the caches, where the row above waits on memory for every
# packet (about four cache misses: index, record, ULID pair, feedback).
# The two rows part what the shim computes from what it fetches.
HOT=${HOT:-1024}
HOTPCAP=$OUTABS/ipv6-udp-hot.pcap
"$BIN/pcapgen" -o "$HOTPCAP" -n 8192 -size 78 -synth "$HOT" -seed 1 -rules $OUT/em-hot.rules
# A pcap cycles 8192 packets, so it touches at most 8192 contexts a cycle
# however large the table. shim6gen (bench/gen) stamps context k's pair
# into a template, k cycling over all NCTX: every context active.
"$BIN/pcapgen" -gen "$NCTX" -seed 1 -rules $OUT/em-gen.rules
# One exact-match table for every l3fwd -E row, as shim6d holds one table
# of contexts: NCTX generator tuples and both pcaps' 8192 each.
cat $OUT/em-gen.rules $OUT/em-pcap.rules $OUT/em-hot.rules >$OUT/em.rules
EMN=$(wc -l <$OUT/em.rules)
# l3fwd reads IPv4 rules too, though these rows send none; without both
# files it falls back to its built-in tables.
printf 'R198.18.0.1 198.18.0.0 9 9 17 1\n' >$OUT/em-v4.rules
# LPM: /48 routes; the traffic's destinations (2001:db8:3::/48) go to port
# 1, the sink. What matches no route leaves by the port it came from.
printf 'R198.18.0.0/24 1\n' >$OUT/lpm-v4.rules
printf 'R2001:db8:3::/48 1\nR2001:db8:4::/48 1\nR2001:db8:ff::/48 1\nR2001:db8:1::/48 0\n' >$OUT/lpm-v6.rules

# Flood rows (FLOOD= to skip them): the same good traffic on the inside
# port while the uplink receives a flood of one kind from the Internet
# (bench/pcapgen/attack.go). The worker polls both ports alike, so about
# half of what it handles is attack; the rows give the good packets
# rewritten per second against the same good traffic alone.
FLOOD=${FLOOD-unknown-tag i1 malformed}
for kind in $FLOOD; do
	"$BIN/pcapgen" -o "$OUTABS/attack-$kind.pcap" -attack "$kind" -n 8192 -size 78 \
		-src 2001:db8:ee::/48 -dst 2001:db8:1::/48
done

# l3fwd, from the example source Debian's dpdk-doc installs (make deps
# adds it), with our patch; rebuilt when the patch changes.
EXAMPLES=${EXAMPLES:-/usr/share/dpdk/examples}
L3FWD=$OUT/l3fwd/build/l3fwd
if [ ! -x $L3FWD ] || [ bench/l3fwd.patch -nt $L3FWD ]; then
	if [ ! -f $EXAMPLES/l3fwd/main.c ]; then
		echo "bench: no l3fwd source in $EXAMPLES/l3fwd; install dpdk-doc (make deps does)" >&2
		exit 2
	fi
	rm -rf $OUT/l3fwd $OUT/common
	cp -r $EXAMPLES/l3fwd $EXAMPLES/common $OUT/
	(cd $OUT/l3fwd && patch -p1 -s <../../l3fwd.patch && make -s >/dev/null)
fi
# shim6gen (bench/gen/shim6gen.c), the memif server the contenders' net_memif0 connects to.
GEN=$OUT/shim6gen
if [ ! -x $GEN ] || [ bench/gen/shim6gen.c -nt $GEN ]; then
	# shellcheck disable=SC2046
	cc -O3 -Wall $(pkg-config --cflags libdpdk) bench/gen/shim6gen.c -o $GEN $(pkg-config --libs libdpdk)
fi

HUGE_DIR=/dev/hugepages-shim6d-bench
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
hp_before=""
MEM=(--no-huge -m 1024)
L3MEM=(--no-huge -m 2048)
if [ -w "$HP" ] && [ "${NOHUGE:-}" = "" ]; then
	hp_before=$(cat $HP)
	# l3fwd -E builds two 4M-entry hash tables (IPv4 and IPv6): about
	# 700 MB beside the others' 512 MB.
	echo 1536 >$HP || true
	if [ "$(cat $HP)" -ge 1024 ]; then
		mkdir -p $HUGE_DIR
		mountpoint -q $HUGE_DIR || mount -t hugetlbfs -o pagesize=2M nodev $HUGE_DIR
		MEM=(--huge-dir $HUGE_DIR -m 512)
		L3MEM=(--huge-dir $HUGE_DIR)
	fi
fi
giveback() {
	set +e
	[ -n "${gpid:-}" ] && kill -INT "$gpid" 2>/dev/null && wait "$gpid" 2>/dev/null
	[ -n "${spid:-}" ] && kill -INT "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	[ -n "${cpid:-}" ] && kill -INT "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
	[ -n "${GENSOCK:-}" ] && rm -f "$GENSOCK"
	if mountpoint -q $HUGE_DIR 2>/dev/null; then
		rm -f $HUGE_DIR/* ; umount $HUGE_DIR; rmdir $HUGE_DIR
	fi
	[ -n "$hp_before" ] && echo "$hp_before" >$HP
}
trap giveback EXIT

mode="hugepages"
[ "${MEM[0]}" = "--no-huge" ] && mode="no-huge"
GENSOCK=/tmp/shim6d-bench-gen-$$.sock
# memif rings of 2^GENRSIZE slots: memif's default 10 keeps the buffers in
# a core's L2; up to 14 rides out longer spells of the scheduler taking CPU
# 0 from shim6gen on a busy machine.
GENRSIZE=${GENRSIZE:-10}
GENDEV="net_memif0"
# mac=: the address shim6gen's frames are sent to; shim6d takes only
# frames addressed to its port.
GENARGS="role=client,socket=$GENSOCK,socket-abstract=no,rsize=$GENRSIZE,mac=02:00:00:00:00:01"

# pcapdev PCAP QUEUES: net_pcap devargs replaying PCAP on QUEUES rx queues.
pcapdev() { local a="" q; for q in $(seq "$2"); do a+="rx_pcap=$1,"; done; echo "${a}infinite_rx=1"; }

# tstats PREFIX: "time tx-of-port-0 tx-of-port-1" of a DPDK process, read
# through its telemetry socket. Port 1 is the sink; port 0 the source,
# whose tx counts l3fwd's misses (they leave by the port they came in on).
tstats() {
	python3 - "$1" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % sys.argv[1])
s.recv(4096)
tx = []
for port in (0, 1):
    s.send(b"/ethdev/stats,%d" % port)
    tx.append(json.loads(s.recv(1 << 16))["/ethdev/stats"]["opackets"])
print("%.6f %d %d" % (time.time(), tx[0], tx[1]))
PY
}

# start_gen ID QUEUES: shim6gen on CPU 0, the server of the memif link
# that the contender of row ID (started next) joins with QUEUES queues;
# over GENN pairs (default NCTX), TCP segments when GENTCP is set.
start_gen() {
	rm -f "$GENSOCK"
	"$GEN" -l 0 --no-huge -m 256 --no-pci --file-prefix "shim6d-bench-gen-$$" \
		--vdev="$GENDEV,role=server,socket=$GENSOCK,socket-abstract=no,rsize=$GENRSIZE" \
		-- -n "${GENN:-$NCTX}" -q "$2" -s 1 ${GENTCP:+-t} >"$OUT/gen-$1.log" 2>&1 &
	gpid=$!
	# Ready once its port has started (it says so): a client that comes
	# earlier is turned away and does not try again.
	for _ in $(seq 100); do grep -q '^shim6gen: .* pairs' "$OUT/gen-$1.log" && return 0; kill -0 $gpid 2>/dev/null || break; sleep 0.1; done
	echo "shim6gen did not start; see $OUT/gen-$1.log" >&2
	return 1
}
# stop_gen: stop shim6gen, before its client: memif's server side does not
# outlive a client that goes away while it transmits.
stop_gen() {
	[ -n "${gpid:-}" ] || return 0
	kill -INT "$gpid" 2>/dev/null || true
	wait "$gpid" 2>/dev/null || true
	gpid=""
}

# gen_snap ID: shim6gen's counters now ("sent tries full"), or nothing when
# it is not running: it prints them to its log on SIGUSR1.
gen_snap() {
	[ -n "${gpid:-}" ] || return 0
	local n i
	n=$(grep -c '^shim6gen: sent' "$OUT/gen-$1.log" || true)
	kill -USR1 "$gpid" 2>/dev/null || return 0
	for i in $(seq 50); do
		[ "$(grep -c '^shim6gen: sent' "$OUT/gen-$1.log" || true)" -gt "$n" ] && break
		sleep 0.02
	done
	grep '^shim6gen: sent' "$OUT/gen-$1.log" | tail -1 | awk '{ print $3, $5, $7 }'
}
# gen_full ID SNAP0 SNAP1: record the share of shim6gen's sends between the
# two snapshots that found row ID's contender's ring full.
gen_full() {
	[ -n "$2" ] && [ -n "$3" ] || return 0
	record "$1" full "$(echo "$2 $3" | awk '{ t = $5 - $2; printf "%.4f", (t > 0 ? ($6 - $3) / t : 0) }')"
}

# record ID KIND VALUE: keep one round's figure (KIND mpps or hit) of row ID.
record() { echo "$3" >>"$OUT/res-$1.$2"; }
# values ID KIND: every round's figures of row ID.
values() { cat "$OUT/res-$1.$2" 2>/dev/null || true; }

# run_c ID PREFIX GENQ CMD...: run a C contender (testpmd, l3fwd) that uses
# --file-prefix PREFIX, with shim6gen feeding it on GENQ queues when GENQ
# is not 0; after the warm-up, record the Mpps its sink port sent over DUR
# seconds, and the share of packets that went there and not back out of
# the source port (l3fwd's hit rate).
run_c() {
	local id=$1 prefix=$2 genq=$3
	shift 3
	local log=$OUT/$id.log i s0 s1
	if [ "$genq" != 0 ]; then start_gen "$id" "$genq" || true; fi
	# l3fwd -E prints a line for every rule it adds: a million here.
	"$@" > >(grep -v '^EM: Adding route' >"$log") 2>&1 &
	cpid=$!
	for i in $(seq 100); do tstats "$prefix" >/dev/null 2>&1 && break; sleep 0.2; done
	# Up once packets reach the sink (l3fwd -E first loads its rules).
	for i in $(seq 600); do
		s0=$(tstats "$prefix" 2>/dev/null || echo "0 0 0")
		[ "${s0##* }" -gt 0 ] && break
		kill -0 $cpid 2>/dev/null || break
		sleep 0.2
	done
	sleep "$WARM"
	local g0 g1
	g0=$(gen_snap "$id")
	s0=$(tstats "$prefix" 2>/dev/null || echo "0 0 0")
	if [ -n "$PERF" ]; then profile "$id" "$cpid"; else sleep "$DUR"; fi
	s1=$(tstats "$prefix" 2>/dev/null || echo "0 0 0")
	g1=$(gen_snap "$id")
	gen_full "$id" "$g0" "$g1"
	stop_gen
	kill -INT $cpid 2>/dev/null || true
	wait $cpid 2>/dev/null || true
	cpid=""
	read -r t0 m0 h0 <<<"$s0"
	read -r t1 m1 h1 <<<"$s1"
	if [ $((h1 - h0)) -le 0 ]; then
		echo "$id: nothing reached the sink; see $log" >&2
	fi
	record "$id" mpps "$(awk -v a="$h0" -v b="$h1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (t1 > t0 ? (b - a) / (t1 - t0) / 1e6 : 0) }')"
	record "$id" hit "$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN { printf "%.4f", (h + m > 0 ? h / (h + m) : 0) }')"
	# Every packet has a rule or a route: a miss means the tables and the
	# traffic no longer come from the same contexts.
	if [ $((m1 - m0)) -gt 0 ]; then
		echo "$id: $((m1 - m0)) of $((h1 - h0 + m1 - m0)) packets missed and went back out of the source port" >&2
	fi
}

# C contenders' command lines. W is the number of forwarding cores; the
# source is net_pcap (a pcap) or net_memif0 (shim6gen).
src_vdev() { # SOURCE W: the source device's --vdev argument
	case $1 in
	gen) echo "--vdev=$GENDEV,$GENARGS" ;;
	*) echo "--vdev=net_pcap0,$(pcapdev "$1" "$2")" ;;
	esac
}
# testpmd: lcore 0 is its main (it sleeps between stats), forwarding
# lcores 1.. on CPUs 1, 0.
tp() { # ID MODE SOURCE W
	local id=$1 mode=$2 src=$3 w=$4 prefix="shim6d-bench-$1-$$" genq=0 lc="0-1" extra=()
	[ "$src" = gen ] && genq=$w
	[ "$w" = 2 ] && lc="--lcores=0@0,1@1,2@0" && extra=(--total-num-mbufs=32768)
	[ "$w" = 1 ] && lc="-l 0-1"
	# shellcheck disable=SC2086
	run_c "$id" "$prefix" "$genq" dpdk-testpmd $lc "${MEM[@]}" --no-pci "$(src_vdev "$src" "$w")" \
		--vdev=net_null0,no-rx=1 --file-prefix="$prefix" -- --forward-mode="$mode" --nb-cores="$w" \
		--rxq="$w" --txq="$w" "${extra[@]}" --stats-period=1
}
# l3fwd: one forwarding lcore on CPU 1, or two on CPUs 0 and 1, each
# polling its queue of both ports. Misses go back out of port 0.
l3() { # ID -L|-E SOURCE W
	local id=$1 how=$2 src=$3 w=$4 prefix="shim6d-bench-$1-$$" genq=0 lc cfg rules
	[ "$src" = gen ] && genq=$w
	if [ "$w" = 1 ]; then lc=1 cfg="(0,0,1),(1,0,1)"; else lc=0-1 cfg="(0,0,0),(0,1,1),(1,0,0),(1,1,1)"; fi
	if [ "$how" = -L ]; then rules=(-L --rule_ipv4=$OUT/lpm-v4.rules --rule_ipv6=$OUT/lpm-v6.rules)
	else rules=(-E --ipv6 --rule_ipv4=$OUT/em-v4.rules --rule_ipv6=$OUT/em.rules); fi
	# The mbuf pool must exceed what net_pcap stores (8192 a queue):
	# l3fwd sizes it from the queue sizes.
	run_c "$id" "$prefix" "$genq" "$L3FWD" -l $lc "${L3MEM[@]}" --no-pci "$(src_vdev "$src" "$w")" \
		--vdev=net_null0,no-rx=1 --file-prefix="$prefix" -- -p 0x3 --config="$cfg" --parse-ptype \
		"${rules[@]}" --rx-queue-size 8192 --tx-queue-size 8192
}

# --- shim6d: the same devices as its inside port and uplink; packets from
# the inside sources leave by the uplink, MACs and hop limit rewritten.
sock=/run/shim6d/bench-$$.sock
# write_cfg FILE INSIDE-DEVICE INSIDE-DEVARGS [UPLINK-PCAP [WORKERS]]: the
# config, with INSIDE-DEVICE (net_pcap0, or net_memif0 fed by shim6gen) as
# the inside port and UPLINK-PCAP, when not empty, as what the uplink
# receives.
write_cfg() {
	local updev="net_null0" upargs="no-rx=1" w=${5:-1} lcores='"-l", "0-1"'
	if [ -n "${4:-}" ]; then updev="net_pcap1" upargs="rx_pcap=$4,infinite_rx=1"; fi
	# Two workers on two CPUs: lcore 2 on CPU 0 beside the control core,
	# which sleeps when idle.
	[ "$w" = 2 ] && lcores='"--lcores", "0@0,1@1,2@0"'
	cat >"$1" <<TOML
[eal]
args = [$lcores, $(printf '"%s", ' "${MEM[@]}") "--no-pci", "--file-prefix", "shim6d-bench-$$"]
[daemon]
workers = $w
polling = "busy"
mbufs = 32767
admin_socket = "$sock"
metrics_listen = ""
allow_synthetic = true
[shim]
contexts = 2097152
mss_clamp = false
[[port]]
name = "inside"
role = "inside"
device = "$2"
devargs = "$3"
addresses = ["2001:db8:1::1"]
[[port]]
name = "isp1"
role = "uplink"
device = "$updev"
devargs = "$upargs"
prefix = "2001:db8:1::/48"
addresses = ["2001:db8:ffff:1::2"]
next_hop = "2001:db8:ffff:1::1"
next_hop_mac = "02:00:00:00:00:20"
TOML
}
cfg=$OUT/bench.toml
write_cfg "$cfg" net_pcap0 "$(pcapdev "$PCAP" 1)"
hotcfg=$OUT/bench-hot.toml
write_cfg "$hotcfg" net_pcap0 "$(pcapdev "$HOTPCAP" 1)"
gencfg=$OUT/bench-gen.toml
write_cfg "$gencfg" $GENDEV "$GENARGS"
# The retransmission watch's rows (issue #18): TCP from shim6gen, each of
# HOT flows sending its next segment in order every cycle, through the
# same table, with [shim] ulp_advice off and on.
for a in false true; do
	write_cfg "$OUT/bench-tcp-$a.toml" $GENDEV "$GENARGS"
	sed -i "/^mss_clamp = /a ulp_advice = $a" "$OUT/bench-tcp-$a.toml"
done
for kind in $FLOOD; do write_cfg "$OUT/bench-flood-$kind.toml" net_pcap0 "$(pcapdev "$PCAP" 1)" "$OUTABS/attack-$kind.pcap"; done
if [ "$WORKERS" = 2 ]; then
	write_cfg $OUT/bench-w2.toml net_pcap0 "$(pcapdev "$PCAP" 2)" "" 2
	write_cfg $OUT/bench-hot-w2.toml net_pcap0 "$(pcapdev "$HOTPCAP" 2)" "" 2
fi

# run_shim6d ID CONTEXTS [CONFIG [GENQ]]: start shim6d (on CONFIG, default
# $cfg), load CONTEXTS synthetic contexts, start shim6gen on GENQ queues
# when given, warm up, and record the Mpps the uplink sent over DUR
# seconds; with contexts, also the share of them that were rewritten.
run_shim6d() {
	local id=$1 n=$2 conf=${3:-$cfg} genq=${4:-0}
	local slog=$OUT/$id.log
	if [ "$genq" != 0 ]; then start_gen "$id" "$genq" || true; fi
	"$BIN/shim6d" --config "$conf" ${PROFILE:+--cpuprofile "$PROFILE.$id"} >"$slog" 2>&1 &
	spid=$!
	for _ in $(seq 100); do "$BIN/shim6ctl" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
	if [ "$n" -gt 0 ]; then "$BIN/shim6ctl" synth --socket "$sock" --count "$n" --seed 1 >/dev/null 2>&1; fi
	sleep "$WARM"
	local t0 c0 t1 c1 r0 r1
	# The two counters come from two calls: reading tx on both sides of
	# the rewritten count keeps the share from leaning on the order.
	local g0 g1
	g0=$(gen_snap "$id")
	t0=$(date +%s.%N); c0=$(txpk); r0=$(rewritten); c0=$(((c0 + $(txpk)) / 2))
	if [ -n "$PERF" ]; then profile "$id" "$spid"; else sleep "$DUR"; fi
	t1=$(date +%s.%N); c1=$(txpk); r1=$(rewritten); c1=$(((c1 + $(txpk)) / 2))
	g1=$(gen_snap "$id")
	gen_full "$id" "$g0" "$g1"
	"$BIN/shim6ctl" stats --json --socket "$sock" >"$OUT/$id.stats.json" 2>/dev/null || true
	"$BIN/shim6ctl" ports --json --socket "$sock" >"$OUT/$id.ports.json" 2>/dev/null || true
	stop_gen
	kill -INT $spid; wait $spid 2>/dev/null || true
	spid=""
	# Every packet counted must have been rewritten when contexts are loaded.
	if [ "$n" -gt 0 ] && [ $((r1 - r0)) -lt $(((c1 - c0) * 99 / 100)) ]; then
		echo "shim run $id: only $((r1 - r0)) of $((c1 - c0)) packets were rewritten" >&2
	fi
	if [ "$n" -gt 0 ]; then
		record "$id" hit "$(awk -v r=$((r1 - r0)) -v c=$((c1 - c0)) 'BEGIN { printf "%.4f", (c > 0 ? r / c : 0) }')"
	fi
	# The flood rows count the good packets only: those rewritten.
	if [ "${GOOD:-}" = 1 ]; then c0=$r0 c1=$r1; fi
	record "$id" mpps "$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / (t1 - t0) / 1e6 }')"
}
# run_tcp_paired ID: the TCP rows' traffic through one shim6d whose [shim]
# ulp_advice a reload switches off and on every PAIRSEC seconds for DUR
# seconds (an even number of periods, the first off). Each side's Mpps
# counts the packets sent in its own periods; their ratio shares every
# drift of the machine slower than a period, which back-to-back rows do
# not (a row's rounds range over ±30% here). Records mpps-off, mpps-on
# and ratio (on ÷ off) for the round.
run_tcp_paired() {
	local id=$1 conf=$OUT/bench-tcp-paired.toml
	cp "$OUT/bench-tcp-true.toml" "$conf"
	GENN=$HOT GENTCP=1 start_gen "$id" 1 || true
	"$BIN/shim6d" --config "$conf" >"$OUT/$id.log" 2>&1 &
	spid=$!
	for _ in $(seq 100); do "$BIN/shim6ctl" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
	"$BIN/shim6ctl" synth --socket "$sock" --count "$NCTX" --seed 1 >/dev/null 2>&1
	sleep "$WARM"
	local periods k side t0 c0 t1 c1 res
	periods=$(awk -v d="$DUR" -v p="$PAIRSEC" 'BEGIN { n = int(d / p); print (n < 2 ? 2 : n - n % 2) }')
	res=""
	for k in $(seq 0 $((periods - 1))); do
		side=$([ $((k % 2)) = 1 ] && echo true || echo false)
		sed -i "s/^ulp_advice = .*/ulp_advice = $side/" "$conf"
		if ! "$BIN/shim6ctl" reload --socket "$sock" >/dev/null 2>&1; then
			echo "shim run $id: the reload to ulp_advice = $side failed" >&2
		fi
		t0=$(date +%s.%N); c0=$(txpk)
		sleep "$PAIRSEC"
		t1=$(date +%s.%N); c1=$(txpk)
		res+="$side $((c1 - c0)) $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"$'\n'
	done
	stop_gen
	kill -INT $spid; wait $spid 2>/dev/null || true
	spid=""
	printf '%s' "$res" >"$OUT/$id.periods"
	read -r off on < <(printf '%s' "$res" | awk '{ n[$1] += $2; t[$1] += $3 } END { printf "%.2f %.2f\n", n["false"] / t["false"] / 1e6, n["true"] / t["true"] / 1e6 }')
	record "$id" mpps-off "$off"
	record "$id" mpps-on "$on"
	record "$id" ratio "$(ratio "$on" "$off")"
	record "$id" mpps "$on"
}
txpk() { "$BIN/shim6ctl" ports --json --socket "$sock" | awk -F: '/"tx_packets"/ { gsub(/[ ,]/, "", $2); v = $2 } END { print v }'; }
rewritten() { "$BIN/shim6ctl" stats --json --socket "$sock" | awk -F: '/"rewritten"/ { gsub(/[ ,]/, "", $2); s += $2 } END { print s + 0 }'; }
# median of the numbers given, and their range
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# profile NAME PID: cpu-clock samples of the forwarding core (CPU 1) for
# DUR seconds, those of process PID only (the machine may run others
# there), appended as "NAME share" to $OUT/perf.txt, where share is the
# time outside the PMD libraries per unit of time inside them.
profile() {
	perf record -q -e cpu-clock -C 1 -o "$OUT/perf-$1.data" -- sleep "$DUR" >/dev/null 2>&1
	perf report -i "$OUT/perf-$1.data" --pid "$2" --stdio --sort dso 2>/dev/null | awk -v name="$1" '
		/^#/ || !/%/ { next }
		{ t += $1 } /librte_net_/ { p += $1 }
		END { if (p > 0) printf "%s %.3f\n", name, (t - p) / p }' >>"$OUT/perf.txt"
}
rm -f "$OUT/perf.txt" "$OUT"/res-*

# The rows, in the order they take their turns: ID, then the command.
# IDs end in -1 or -2, the forwarding cores.
ROWS=(
	"tp-macswap-1|tp tp-macswap-1 macswap $PCAP 1"
	"tp-io-1|tp tp-io-1 io $PCAP 1"
	"l3-lpm-1|l3 l3-lpm-1 -L $PCAP 1"
	"sh-fwd-1|run_shim6d sh-fwd-1 0"
	"l3-em-1|l3 l3-em-1 -E $PCAP 1"
	"sh-rw-1|run_shim6d sh-rw-1 $NCTX"
	"l3-emhot-1|l3 l3-emhot-1 -E $HOTPCAP 1"
	"sh-rwhot-1|run_shim6d sh-rwhot-1 $NCTX $hotcfg"
)
# shim6gen needs the core the forwarding core leaves free: one worker only.
ROWS+=(
	"tp-iogen-1|tp tp-iogen-1 io gen 1"
	"l3-emgen-1|l3 l3-emgen-1 -E gen 1"
	"sh-rwgen-1|run_shim6d sh-rwgen-1 $NCTX $gencfg 1"
	"sh-tcpoff-1|GENN=$HOT GENTCP=1 run_shim6d sh-tcpoff-1 $NCTX $OUT/bench-tcp-false.toml 1"
	"sh-tcpon-1|GENN=$HOT GENTCP=1 run_shim6d sh-tcpon-1 $NCTX $OUT/bench-tcp-true.toml 1"
	"sh-tcppair-1|run_tcp_paired sh-tcppair-1"
)
if [ "$WORKERS" = 2 ]; then
	ROWS+=(
		"tp-macswap-2|tp tp-macswap-2 macswap $PCAP 2"
		"tp-io-2|tp tp-io-2 io $PCAP 2"
		"l3-lpm-2|l3 l3-lpm-2 -L $PCAP 2"
		"sh-fwd-2|run_shim6d sh-fwd-2 0 $OUT/bench-w2.toml"
		"l3-em-2|l3 l3-em-2 -E $PCAP 2"
		"sh-rw-2|run_shim6d sh-rw-2 $NCTX $OUT/bench-w2.toml"
		"l3-emhot-2|l3 l3-emhot-2 -E $HOTPCAP 2"
		"sh-rwhot-2|run_shim6d sh-rwhot-2 $NCTX $OUT/bench-hot-w2.toml"
	)
fi
# ONLY=REGEX runs only the rows whose ID matches (to check one row); the
# flood rows run when it matches "flood" (ONLY=flood: those alone).
ONLY=${ONLY:-}
floods() { [ -n "$FLOOD" ] && { [ -z "$ONLY" ] || [[ flood =~ $ONLY ]]; }; }

for r in $(seq "$ROUNDS"); do
	line=""
	for spec in "${ROWS[@]}"; do
		id=${spec%%|*}
		[ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]] && continue
		eval "${spec#*|}"
		line+="$id $(values "$id" mpps | tail -1) "
	done
	echo "round $r: $line" >&2
	if floods; then
		GOOD=1 run_shim6d shim6d-good "$NCTX"
		for kind in $FLOOD; do
			GOOD=1 run_shim6d "shim6d-flood-$kind" "$NCTX" "$OUT/bench-flood-$kind.toml"
		done
		echo "round $r: good alone $(values shim6d-good mpps | tail -1), under floods: $(for k in $FLOOD; do printf '%s %s ' "$k" "$(values "shim6d-flood-$k" mpps | tail -1)"; done)" >&2
	fi
done

# hitcol ID: the lowest hit rate over the rounds, as a percentage, or "-".
hitcol() {
	local v
	v=$(values "$1" hit)
	# testpmd looks nothing up: nothing to miss.
	[ -n "$v" ] && [[ $1 != tp-* ]] || { echo "-"; return; }
	printf '%s\n' $v | sort -g | head -1 | awk '{ printf "%.2f%%", $1 * 100 }'
}
# row LABEL ID [PEER]: one line of the table; PEER is the C program the
# shim6d row is compared with.
row() {
	local v p
	v=$(values "$2" mpps)
	[ -n "$v" ] || return 0
	# shellcheck disable=SC2086
	set -- "$1" "$2" "${3:-}" $v
	local label=$1 id=$2 peer=$3
	shift 3
	local rm="-" rb="-"
	if [ -n "$peer" ] && [ -n "$(values "$peer" mpps)" ]; then
		# shellcheck disable=SC2046
		rm=$(ratio "$(median "$@")" "$(median $(values "$peer" mpps))")
		# shellcheck disable=SC2046
		rb=$(ratio "$(best "$@")" "$(best $(values "$peer" mpps))")
	fi
	printf '| %-52s | %7s | %7s | %13s | %7s | %6s | %6s |\n' "$label" "$(median "$@")" "$(best "$@")" "$(range "$@")" "$(hitcol "$id")" "$rm" "$rb"
}
header() {
	printf '| %-52s | %7s | %7s | %13s | %7s | %6s | %6s |\n' "contender (table; active set)" "median" "best" "range" "hit" "÷ peer" "best"
	printf '|%s|%s|%s|%s|%s|%s|%s|\n' "------------------------------------------------------" "---------" "---------" "---------------" "---------" "--------" "--------"
}
M=$((NCTX / 1000))k
[ $((NCTX % 1000000)) = 0 ] && M=$((NCTX / 1000000))M
EMK=$(awk -v n="$EMN" 'BEGIN { printf "%.2fM", n / 1e6 }')
table() { # W: the rows of W forwarding cores
	local w=$1
	row "dpdk-testpmd macswap (I/O ceiling)" "tp-macswap-$w"
	row "dpdk-testpmd io (I/O ceiling)" "tp-io-$w"
	row "l3fwd -L: LPM, 4 IPv6 /48 routes" "l3-lpm-$w"
	row "shim6d forward: no contexts" "sh-fwd-$w" "l3-lpm-$w"
	row "l3fwd -E: $EMK entries; 8192-packet cycle" "l3-em-$w"
	row "shim6d rewrite+insert: $M ctx; 8192-packet cycle" "sh-rw-$w" "l3-em-$w"
	row "l3fwd -E: $EMK entries; $HOT active" "l3-emhot-$w"
	row "shim6d rewrite+insert: $M ctx; $HOT active" "sh-rwhot-$w" "l3-emhot-$w"
	row "dpdk-testpmd io on shim6gen (its ceiling)" "tp-iogen-$w"
	row "l3fwd -E: $EMK entries; all $M active (shim6gen)" "l3-emgen-$w"
	row "shim6d rewrite+insert: $M ctx; all $M active (gen)" "sh-rwgen-$w" "l3-emgen-$w"
	# ÷ of the second: advice on over off, the retransmission watch's cost.
	row "shim6d rewrite TCP, ulp_advice off: $HOT flows (gen)" "sh-tcpoff-$w"
	row "shim6d rewrite TCP, ulp_advice on (÷ off): $HOT flows" "sh-tcpon-$w" "sh-tcpoff-$w"
}
# paired: the watch's cost from run_tcp_paired, ulp_advice on ÷ off.
paired() {
	local v
	v=$(values sh-tcppair-1 ratio)
	[ -n "$v" ] || return 0
	# shellcheck disable=SC2046,SC2086
	printf '\nretransmission watch, paired (one shim6d, [shim] ulp_advice switched by reload every %ss over\n%ss a round, %s TCP flows): Mpps off %s, on %s (medians); on ÷ off median %s, range %s, by round: %s\n' \
		"$PAIRSEC" "$DUR" "$HOT" "$(median $(values sh-tcppair-1 mpps-off))" "$(median $(values sh-tcppair-1 mpps-on))" "$(median $v)" "$(range $v)" "$(echo $v)"
}

printf '\n78-byte IPv6/UDP, net_pcap (8192 packets, infinite_rx) or shim6gen (a process on CPU 0 cycling\n'
printf 'through %s contexts, over net_memif) -> net_null, %s. %s rounds of %ss after %ss warm-up\n' "$NCTX" "$mode" "$ROUNDS" "$DUR" "$WARM"
printf 'each. Mpps: the median over the rounds, and the best round (interference from the rest of the\n'
printf 'machine only ever slows a contender down, so the best round is the nearest to its undisturbed\n'
printf 'speed). hit: l3fwd, packets that left by the sink port (a miss leaves by the source port);\n'
printf 'shim6d, packets rewritten; the lowest round. ÷ peer: shim6d over its C peer, of medians and of bests.\n'
printf '\none forwarding core (CPU 1):\n\n'
header
table 1
if [ -n "$(values sh-rwgen-1 full)$(values l3-emgen-1 full)$(values tp-iogen-1 full)" ]; then
	# A source that never finds the ring full set the pace: then the row
	# measured shim6gen (or what the machine left it of CPU 0).
	printf '\nshim6gen'"'"'s sends that found the contender'"'"'s ring full, lowest round (near 0%%: the source, not\n'
	printf 'the contender, set the pace, and that row measures shim6gen):'
	for id in tp-iogen-1 l3-emgen-1 sh-rwgen-1 sh-tcpoff-1 sh-tcpon-1; do
		v=$(values $id full)
		[ -n "$v" ] && printf ' %s %s' "$id" "$(printf '%s\n' $v | sort -g | head -1 | awk '{ printf "%.1f%%", $1 * 100 }')"
	done
	printf '\n'
fi
paired
if [ "$WORKERS" = 2 ]; then
	printf '\ntwo forwarding cores (CPUs 1 and 0) and two rx queues on the source (net_pcap replays the\n'
	printf 'pcap on each). This machine has two CPUs, so the second forwarding core shares CPU 0 with\n'
	printf 'testpmd'"'"'s main lcore (it sleeps between stats) or shim6d'"'"'s control core (--lcores 0@0,1@1,2@0;\n'
	printf 'the control core polls adaptively, sleeping up to 1 ms when idle). l3fwd'"'"'s main lcore is one of\n'
	printf 'its two forwarding cores.\n\n'
	header
	table 2
	printf '\nscaling, one to two forwarding cores (ratio of medians):\n\n'
	printf '| %-52s | %7s |\n' "contender" "2 ÷ 1"
	printf '|%s|%s|\n' "------------------------------------------------------" "---------"
	for pair in "dpdk-testpmd macswap|tp-macswap" "dpdk-testpmd io|tp-io" "l3fwd -L|l3-lpm" "shim6d forward|sh-fwd" \
		"l3fwd -E, 8192-packet cycle|l3-em" "shim6d rewrite, 8192-packet cycle|sh-rw" "l3fwd -E, $HOT active|l3-emhot" "shim6d rewrite, $HOT active|sh-rwhot"; do
		id=${pair#*|}
		[ -n "$(values "$id-1" mpps)" ] && [ -n "$(values "$id-2" mpps)" ] || continue
		# shellcheck disable=SC2046
		printf '| %-52s | %7s |\n' "${pair%%|*}" "$(ratio "$(median $(values "$id-2" mpps))" "$(median $(values "$id-1" mpps))")"
	done
fi

if [ -n "$PERF" ]; then
	# A shim6d row's predicted ratio to its peer: the peer spends 1+Y
	# units a packet where shim6d spends 1+X, a unit being the PMDs' time,
	# the same for both (the same devices, the same packets).
	printf '\ntime outside the PMDs per unit of time in them (perf cpu-clock, CPU 1), median over the rounds:\n\n'
	printf '| %-52s | %6s | %15s |\n' "contender" "share" "predicted ÷ peer"
	printf '|%s|%s|%s|\n' "------------------------------------------------------" "--------" "-----------------"
	share() { local v; v=$(awk -v n="$1" '$1 == n { print $2 }' $OUT/perf.txt); [ -n "$v" ] && median $v; }
	prow() {
		local x y p="-"
		x=$(share "$2") || return 0
		[ -n "$x" ] || return 0
		if [ -n "${3:-}" ] && y=$(share "$3") && [ -n "$y" ]; then p=$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.2f", (1 + y) / (1 + x) }'); fi
		printf '| %-52s | %6s | %15s |\n' "$1" "$x" "$p"
	}
	prow "dpdk-testpmd macswap" tp-macswap-1
	prow "dpdk-testpmd io" tp-io-1
	prow "l3fwd -L" l3-lpm-1
	prow "shim6d forward" sh-fwd-1 l3-lpm-1
	prow "l3fwd -E, 8192-packet cycle" l3-em-1
	prow "shim6d rewrite, 8192-packet cycle" sh-rw-1 l3-em-1
	prow "l3fwd -E, $HOT active" l3-emhot-1
	prow "shim6d rewrite, $HOT active" sh-rwhot-1 l3-emhot-1
	prow "dpdk-testpmd io on shim6gen" tp-iogen-1
	prow "l3fwd -E, all $M active" l3-emgen-1
	prow "shim6d rewrite, all $M active" sh-rwgen-1 l3-emgen-1
	# The retransmission watch's cost end to end: its peer is the same
	# traffic with the watch off (issue #18's ≥ 0.97).
	prow "shim6d rewrite TCP, ulp_advice off" sh-tcpoff-1
	prow "shim6d rewrite TCP, ulp_advice on" sh-tcpon-1 sh-tcpoff-1
fi

if floods; then
	# What each flood did, from the last round's counters: the attack
	# offered (uplink rx), what reached the control core, what the full
	# control ring turned away, and the replies sent.
	printf '\ngood traffic (rewritten packets, %s contexts, one worker) with a flood on the uplink, Mpps; ratio to good alone:\n\n' "$NCTX"
	printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "flood" "median" "best" "ratio" "uplink rx" "to control" "ring full" "replies sent"
	printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "-------------------------------------" "----------" "----------" "--------" "--------------" "--------------" "--------------" "--------------"
	# shellcheck disable=SC2046
	read -r -a good <<<"$(values shim6d-good mpps | tr '\n' ' ')"
	printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "none (good alone)" "$(median "${good[@]}")" "$(best "${good[@]}")" "1.00" "-" "-" "-" "-"
	jsum() { awk -F: -v k="\"$2\"" '$1 ~ k { gsub(/[ ,]/, "", $2); s += $2 } END { print s + 0 }' "$1"; }
	for kind in $FLOOD; do
		read -r -a v <<<"$(values "shim6d-flood-$kind" mpps | tr '\n' ' ')"
		st=$OUT/shim6d-flood-$kind.stats.json pt=$OUT/shim6d-flood-$kind.ports.json
		rx=$(awk -F: '/"rx_packets"/ { gsub(/[ ,]/, "", $2); v = $2 } END { print v + 0 }' "$pt")
		printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "$kind" "$(median "${v[@]}")" "$(best "${v[@]}")" \
			"$(ratio "$(median "${v[@]}")" "$(median "${good[@]}")")" "$rx" "$(jsum "$st" to_control)" "$(jsum "$st" control_ring_full)" "$(jsum "$st" signal_sent)"
	done
	printf '\n(uplink rx, to control, ring full and replies are totals over the last round'"'"'s whole run, warm-up included.)\n'
fi
