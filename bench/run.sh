#!/usr/bin/env bash
# make bench: shim6d forwarding against dpdk-testpmd macswap, in one run, on
# the same virtual devices and one forwarding core each:
#   source: net_pcap replaying a pcap of IPv6/UDP packets (infinite_rx=1)
#   sink:   net_null (no-rx=1)
# Hugepages are reserved for the run when the kernel allows it (they lift
# every figure; DESIGN.md §10) and given back afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DUR=${DUR:-6}          # seconds measured per contender and round
WARM=${WARM:-3}        # seconds of warm-up before measuring
# Rounds: the contenders take turns, ROUNDS times, and the table gives each
# one's median. On a shared VM the machine's speed drifts by tens of
# percent over minutes; turns spread that drift over all contenders, where
# one run each would compare different moments.
ROUNDS=${ROUNDS:-3}
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
PCAP=$(pwd)/$OUT/ipv6-udp.pcap
NCTX=${NCTX:-1000000}  # contexts for the shim row
# Traffic of 8192 packets over the first NCTX synthetic contexts' ULID pairs
# (bench/synth): forwarded plain while shim6d holds no contexts, rewritten
# (locators + payload header) once it does.
"$BIN/pcapgen" -o "$PCAP" -n 8192 -size 78 -synth "$NCTX" -seed 1
# The same table, with traffic over only its first HOT contexts: lines
# that stay in the caches, where the row above waits on memory for every
# packet (about four cache misses: index, record, ULID pair, feedback).
# The two rows part what the shim computes from what it fetches.
HOT=${HOT:-1024}
HOTPCAP=$(pwd)/$OUT/ipv6-udp-hot.pcap
"$BIN/pcapgen" -o "$HOTPCAP" -n 8192 -size 78 -synth "$HOT" -seed 1

# Flood rows (FLOOD= to skip them): the same good traffic on the inside
# port while the uplink receives a flood of one kind from the Internet
# (bench/pcapgen/attack.go). The worker polls both ports alike, so about
# half of what it handles is attack; the rows give the good packets
# rewritten per second against the same good traffic alone.
FLOOD=${FLOOD-unknown-tag i1 malformed}
for kind in $FLOOD; do
	"$BIN/pcapgen" -o "$(pwd)/$OUT/attack-$kind.pcap" -attack "$kind" -n 8192 -size 78 \
		-src 2001:db8:ee::/48 -dst 2001:db8:1::/48
done

HUGE_DIR=/dev/hugepages-shim6d-bench
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
hp_before=""
MEM=(--no-huge -m 1024)
if [ -w "$HP" ] && [ "${NOHUGE:-}" = "" ]; then
	hp_before=$(cat $HP)
	echo 512 >$HP || true
	if [ "$(cat $HP)" -ge 256 ]; then
		mkdir -p $HUGE_DIR
		mountpoint -q $HUGE_DIR || mount -t hugetlbfs -o pagesize=2M nodev $HUGE_DIR
		MEM=(--huge-dir $HUGE_DIR -m 512)
	fi
fi
giveback() {
	set +e
	[ -n "${spid:-}" ] && kill -INT "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	if mountpoint -q $HUGE_DIR 2>/dev/null; then
		rm -f $HUGE_DIR/* ; umount $HUGE_DIR; rmdir $HUGE_DIR
	fi
	[ -n "$hp_before" ] && echo "$hp_before" >$HP
}
trap giveback EXIT

VDEVS=(--vdev=net_pcap0,rx_pcap=$PCAP,infinite_rx=1 --vdev=net_null0,no-rx=1)
mode="hugepages"
[ "${MEM[0]}" = "--no-huge" ] && mode="no-huge"

# --- testpmd macswap: average of its per-second Tx-pps on the sink port,
# after the warm-up.
run_testpmd() {
	local tlog=$OUT/testpmd.log
	[ -n "$PERF" ] && (sleep "$WARM"; profile testpmd) &
	timeout -s INT $((WARM + DUR + 1)) dpdk-testpmd -l 0-1 "${MEM[@]}" --no-pci "${VDEVS[@]}" \
		--file-prefix=shim6d-bench-tpmd-$$ -- --forward-mode=macswap --nb-cores=1 --stats-period=1 \
		>"$tlog" 2>&1 || true
	wait
	awk -v skip="$WARM" '
		/NIC statistics for port 1/ { p1 = 1; next }
		/NIC statistics for port/ { p1 = 0 }
		p1 && /Tx-pps:/ { n++; if (n > skip) { s += $2; k++ } }
		END { if (k) printf "%.2f", s / k / 1e6; else print "0" }' "$tlog"
}

# --- shim6d: the same devices as its inside port and uplink; packets from
# the inside sources leave by the uplink, MACs and hop limit rewritten.
sock=/run/shim6d/bench-$$.sock
# write_cfg FILE PCAP [UPLINK-PCAP]: the config, with PCAP as the inside
# port's traffic and UPLINK-PCAP, when given, as what the uplink receives.
write_cfg() {
	local updev="net_null0" upargs="no-rx=1"
	if [ -n "${3:-}" ]; then updev="net_pcap1" upargs="rx_pcap=$3,infinite_rx=1"; fi
	cat >"$1" <<TOML
[eal]
args = ["-l", "0-1", $(printf '"%s", ' "${MEM[@]}") "--no-pci", "--file-prefix", "shim6d-bench-$$"]
[daemon]
workers = 1
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
device = "net_pcap0"
devargs = "rx_pcap=$2,infinite_rx=1"
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
write_cfg "$cfg" "$PCAP"
hotcfg=$OUT/bench-hot.toml
write_cfg "$hotcfg" "$HOTPCAP"
for kind in $FLOOD; do write_cfg "$OUT/bench-flood-$kind.toml" "$PCAP" "$(pwd)/$OUT/attack-$kind.pcap"; done

# run_shim6d CONTEXTS [NAME CONFIG]: start shim6d (on CONFIG, default
# $cfg), load CONTEXTS synthetic contexts, warm up, and print the Mpps the
# uplink sent over DUR seconds. NAME (default shim6d-CONTEXTS) names its
# log and profile.
run_shim6d() {
	local n=$1 name=${2:-shim6d-$1} conf=${3:-$cfg}
	local slog=$OUT/$name.log
	"$BIN/shim6d" --config "$conf" ${PROFILE:+--cpuprofile "$PROFILE.$name"} >"$slog" 2>&1 &
	spid=$!
	for _ in $(seq 100); do "$BIN/shim6ctl" status --socket "$sock" >/dev/null 2>&1 && break; sleep 0.1; done
	if [ "$n" -gt 0 ]; then "$BIN/shim6ctl" synth --socket "$sock" --count "$n" --seed 1 >/dev/null 2>&1; fi
	sleep "$WARM"
	local t0 c0 t1 c1 r0 r1
	t0=$(date +%s.%N); c0=$(txpk); r0=$(rewritten)
	if [ -n "$PERF" ]; then profile "$name"; else sleep "$DUR"; fi
	t1=$(date +%s.%N); c1=$(txpk); r1=$(rewritten)
	"$BIN/shim6ctl" stats --json --socket "$sock" >"$OUT/$name.stats.json" 2>/dev/null || true
	"$BIN/shim6ctl" ports --json --socket "$sock" >"$OUT/$name.ports.json" 2>/dev/null || true
	kill -INT $spid; wait $spid 2>/dev/null || true
	spid=""
	# Every packet counted must have been rewritten when contexts are loaded.
	if [ "$n" -gt 0 ] && [ $((r1 - r0)) -lt $(((c1 - c0) * 99 / 100)) ]; then
		echo "shim run: only $((r1 - r0)) of $((c1 - c0)) packets were rewritten" >&2
	fi
	# The flood rows count the good packets only: those rewritten.
	if [ "${GOOD:-}" = 1 ]; then c0=$r0 c1=$r1; fi
	awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / (t1 - t0) / 1e6 }'
}
txpk() { "$BIN/shim6ctl" ports --json --socket "$sock" | awk -F: '/"tx_packets"/ { gsub(/[ ,]/, "", $2); v = $2 } END { print v }'; }
rewritten() { "$BIN/shim6ctl" stats --json --socket "$sock" | awk -F: '/"rewritten"/ { gsub(/[ ,]/, "", $2); s += $2 } END { print s + 0 }'; }
# median of the numbers given, and their range
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
best() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# profile NAME: cpu-clock samples of the forwarding core (lcore 1) for DUR
# seconds, appended as "NAME share" to $OUT/perf.txt, where share is the
# time outside the PMD libraries per unit of time inside them.
profile() {
	perf record -q -e cpu-clock -C 1 -o "$OUT/perf-$1.data" -- sleep "$DUR" >/dev/null 2>&1
	perf report -i "$OUT/perf-$1.data" --stdio --sort dso 2>/dev/null | awk -v name="$1" '
		/^#/ || !/%/ { next }
		{ t += $1 } /librte_net_/ { p += $1 }
		END { if (p > 0) printf "%s %.3f\n", name, (t - p) / p }' >>"$OUT/perf.txt"
}
rm -f "$OUT/perf.txt"

tp=() fw=() sh=() hot=() good=()
declare -A fl
for r in $(seq "$ROUNDS"); do
	tp+=("$(run_testpmd)")
	fw+=("$(run_shim6d 0)")
	sh+=("$(run_shim6d "$NCTX")")
	hot+=("$(run_shim6d "$NCTX" shim6d-hot "$hotcfg")")
	echo "round $r: testpmd ${tp[-1]}, forward ${fw[-1]}, rewrite ${sh[-1]}, rewrite hot ${hot[-1]} Mpps" >&2
	if [ -n "$FLOOD" ]; then
		good+=("$(GOOD=1 run_shim6d "$NCTX" shim6d-good)")
		for kind in $FLOOD; do
			fl[$kind]+="$(GOOD=1 run_shim6d "$NCTX" "shim6d-flood-$kind" "$OUT/bench-flood-$kind.toml") "
		done
		echo "round $r: good alone ${good[-1]}, under floods: $(for k in $FLOOD; do read -r -a v <<<"${fl[$k]}"; printf '%s %s ' "$k" "${v[-1]}"; done)" >&2
	fi
done
tpmd=$(median "${tp[@]}")

printf '\none forwarding core, net_pcap (78-byte IPv6/UDP, 8192 packets over %s host pairs) -> net_null, %s,\n' "$NCTX" "$mode"
printf '%s rounds of %ss after %ss warm-up each. Mpps: the median over the rounds, and the best\n' "$ROUNDS" "$DUR" "$WARM"
printf 'round (interference from the rest of the machine only ever slows a contender down, so\n'
printf 'the best round is the nearest to its undisturbed speed); ratio: of medians, and of bests\n\n'
printf '| %-35s | %8s | %8s | %13s | %6s | %6s |\n' "contender" "median" "best" "range" "ratio" "best"
printf '|%s|%s|%s|%s|%s|%s|\n' "-------------------------------------" "----------" "----------" "---------------" "--------" "--------"
row() { printf '| %-35s | %8s | %8s | %13s | %6s | %6s |\n' "$1" "$(median "${@:2}")" "$(best "${@:2}")" "$(range "${@:2}")" \
	"$(ratio "$(median "${@:2}")" "$tpmd")" "$(ratio "$(best "${@:2}")" "$(best "${tp[@]}")")"; }
row "dpdk-testpmd --forward-mode=macswap" "${tp[@]}"
row "shim6d forward, no contexts" "${fw[@]}"
row "shim6d rewrite+insert, $NCTX ctx" "${sh[@]}"
row "  the same, $HOT of them active" "${hot[@]}"

if [ -n "$PERF" ]; then
	# The ratio the shares predict: testpmd spends 1+Y units a packet where
	# shim6d spends 1+X, a unit being the PMDs' time, the same for both.
	printf '\ntime outside the PMDs per unit of time in them (perf cpu-clock, lcore 1), median over the rounds:\n\n'
	printf '| %-35s | %6s | %15s |\n' "contender" "share" "predicted ratio"
	printf '|%s|%s|%s|\n' "-------------------------------------" "--------" "-----------------"
	y=$(median $(awk '$1 == "testpmd" { print $2 }' $OUT/perf.txt))
	prow() {
		local x
		x=$(median $(awk -v n="$2" '$1 == n { print $2 }' $OUT/perf.txt))
		printf '| %-35s | %6s | %15s |\n' "$1" "$x" "$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.2f", (1 + y) / (1 + x) }')"
	}
	prow "dpdk-testpmd --forward-mode=macswap" testpmd
	prow "shim6d forward, no contexts" shim6d-0
	prow "shim6d rewrite+insert, $NCTX ctx" "shim6d-$NCTX"
	prow "  the same, $HOT of them active" shim6d-hot
fi

if [ -n "$FLOOD" ]; then
	# What each flood did, from the last round's counters: the attack
	# offered (uplink rx), what reached the control core, what the full
	# control ring turned away, and the replies sent.
	printf '\ngood traffic (rewritten packets, %s contexts) with a flood on the uplink, Mpps; ratio to good alone:\n\n' "$NCTX"
	printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "flood" "median" "best" "ratio" "uplink rx" "to control" "ring full" "replies sent"
	printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "-------------------------------------" "----------" "----------" "--------" "--------------" "--------------" "--------------" "--------------"
	printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "none (good alone)" "$(median "${good[@]}")" "$(best "${good[@]}")" "1.00" "-" "-" "-" "-"
	jsum() { awk -F: -v k="\"$2\"" '$1 ~ k { gsub(/[ ,]/, "", $2); s += $2 } END { print s + 0 }' "$1"; }
	for kind in $FLOOD; do
		read -r -a v <<<"${fl[$kind]}"
		st=$OUT/shim6d-flood-$kind.stats.json pt=$OUT/shim6d-flood-$kind.ports.json
		rx=$(awk -F: '/"rx_packets"/ { gsub(/[ ,]/, "", $2); v = $2 } END { print v + 0 }' "$pt")
		printf '| %-35s | %8s | %8s | %6s | %12s | %12s | %12s | %12s |\n' "$kind" "$(median "${v[@]}")" "$(best "${v[@]}")" \
			"$(ratio "$(median "${v[@]}")" "$(median "${good[@]}")")" "$rx" "$(jsum "$st" to_control)" "$(jsum "$st" control_ring_full)" "$(jsum "$st" signal_sent)"
	done
	printf '\n(uplink rx, to control, ring full and replies are totals over the last round'"'"'s whole run, warm-up included.)\n'
fi
