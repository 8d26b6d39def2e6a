#!/usr/bin/env bash
# shim6d-setup-host: prepare a real host for shim6d from its configuration:
# reserve and mount hugepages (DPDK's dpdk-hugepages.py), bind the PCI
# ports to vfio-pci (DPDK's dpdk-devbind.py), and with --pin write the
# systemd drop-in that pins the service to the configured cores.
#
#   shim6d-setup-host [--config FILE] [--page-size 2M|1G] [--memory SIZE]
#                     [--pin] [--runtime-cpu N] [--dry-run]
#
# --config     the daemon's configuration (default /etc/shim6d/shim6d.toml):
#              its PCI ports ([[port]] device = "0000:03:00.1"), its lcores
#              (eal.args -l or -c) and its memory (eal.args --socket-mem or -m)
# --page-size  hugepage size (default 1G where the CPU has it, else 2M)
# --memory     hugepages to reserve, e.g. 4G (default: what eal.args asks
#              for, and 1G where it asks for nothing)
# --pin        write /etc/systemd/system/shim6d.service.d/cpus.conf:
#              CPUAffinity = the lcores and one CPU for the Go runtime,
#              GOMAXPROCS = lcores + 1 (README.md, "Running it")
# --runtime-cpu the Go runtime's CPU for --pin (default: the first online
#              CPU after the lcores, else the last one before them)
# --dry-run    print what would be done, change nothing
#
# Runtime hugepages and bindings do not survive a reboot: the package's
# shim6d-setup-host.service runs this before shim6d at every boot.
# For tests, DEVBIND, HUGEPAGES, MODPROBE, SYSTEMCTL, SYSFS and
# SYSTEMD_DIR replace the tools and paths it uses.
set -euo pipefail

prog=shim6d-setup-host
config=/etc/shim6d/shim6d.toml
page_size=""
memory=""
pin=false
runtime_cpu=""
dry=false

die() { echo "$prog: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--config) config=${2:?--config needs a file}; shift 2 ;;
	--page-size) page_size=${2:?--page-size needs 2M or 1G}; shift 2 ;;
	--memory) memory=${2:?--memory needs a size, e.g. 4G}; shift 2 ;;
	--pin) pin=true; shift ;;
	--runtime-cpu) runtime_cpu=${2:?--runtime-cpu needs a CPU number}; shift 2 ;;
	--dry-run) dry=true; shift ;;
	-h | --help) usage ;;
	*) echo "$prog: unknown argument $1" >&2; usage ;;
	esac
done

sysfs=${SYSFS:-/sys}
systemd_dir=${SYSTEMD_DIR:-/etc/systemd/system}

# find_tool VAR NAME...: the first of the names on the PATH (or in /sbin,
# /usr/sbin), unless the variable names one already.
find_tool() {
	local var=$1 name
	shift
	if [ -n "${!var:-}" ]; then
		echo "${!var}"
		return
	fi
	for name in "$@"; do
		if command -v "$name" >/dev/null 2>&1; then
			command -v "$name"
			return
		fi
		for d in /usr/sbin /sbin /usr/share/dpdk/usertools; do
			[ -x "$d/$name" ] && { echo "$d/$name"; return; }
		done
	done
	if $dry; then
		echo "$prog: warning: $1 not found (Debian package dpdk); showing it by name" >&2
		echo "$1"
		return
	fi
	die "needs $1 (Debian package dpdk); install it with: apt-get install dpdk"
}

# run CMD...: run it, or print it under --dry-run.
run() {
	echo "+ $*"
	$dry || "$@"
}

[ -r "$config" ] || die "cannot read $config; write it first (/usr/share/doc/shim6d/examples/shim6d-production.toml is a start)"
command -v python3 >/dev/null || die "needs python3 to read $config"

# What the configuration asks for, as shell assignments: pci (the PCI
# ports), lcores (from -l or -c, empty for --lcores), nohuge, mem_mb and
# socket_mem (MB per NUMA node, from --socket-mem).
eval "$(python3 - "$config" <<'PY'
import re, shlex, sys, tomllib

path = sys.argv[1]
try:
    with open(path, "rb") as f:
        cfg = tomllib.load(f)
except (OSError, tomllib.TOMLDecodeError) as e:
    print(f"die {shlex.quote(f'{path}: {e}')}")
    sys.exit(0)

bdf = re.compile(r"^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
pci = [p["device"] for p in cfg.get("port", []) if bdf.match(str(p.get("device", "")))]
args = [str(a) for a in cfg.get("eal", {}).get("args", [])]

def opt(names):
    """The value of the last of the options, in '-l X', '-lX' or '--x=X' form."""
    val = None
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                val = args[i + 1]
            elif n.startswith("--") and a.startswith(n + "="):
                val = a[len(n) + 1:]
            elif not n.startswith("--") and a.startswith(n) and len(a) > len(n):
                val = a[len(n):]
    return val

def core_list(s):
    cpus = set()
    for part in s.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return sorted(cpus)

lcores, why = [], ""
try:
    if opt(["-l"]) is not None:
        lcores = core_list(opt(["-l"]))
    elif opt(["-c"]) is not None:
        mask = int(opt(["-c"]), 16)
        lcores = [i for i in range(mask.bit_length()) if mask >> i & 1]
    elif opt(["--lcores"]) is not None:
        why = "eal.args uses --lcores, whose CPUs this script does not map; write the drop-in by hand"
    else:
        why = "eal.args names no cores (-l)"
except ValueError as e:
    why = f"eal.args: cannot read the cores: {e}"

mem, socket_mem = 0, []
sm = opt(["--socket-mem"])
if sm:
    socket_mem = [int(x or 0) for x in sm.split(",")]
    mem = sum(socket_mem)
elif opt(["-m"]):
    mem = int(opt(["-m"]))

print("pci=(" + " ".join(shlex.quote(p) for p in pci) + ")")
print("lcores=(" + " ".join(str(c) for c in lcores) + ")")
print(f"lcores_why={shlex.quote(why)}")
print(f"nohuge={'true' if '--no-huge' in args else 'false'}")
print(f"mem_mb={mem}")
print("socket_mem=(" + " ".join(str(m) for m in socket_mem) + ")")
PY
)"

if ! $dry && [ "$(id -u)" != 0 ]; then
	die "must run as root (hugepages, driver binding); --dry-run shows what it would do"
fi

# Hugepages: dpdk-hugepages.py reserves them and mounts hugetlbfs at
# /dev/hugepages. With --socket-mem, on the NUMA nodes it names, so many
# on each (the kernel would spread a global reservation over all nodes,
# short of what EAL asks of one); otherwise anywhere. Pages already there
# (hugepages= on the kernel command line, the only sure way to get 1G
# pages) are kept when they are enough: clearing them to reserve again at
# run time could find no contiguous gigabyte left.
mb_to_size() { echo "$((($1 + 1023) / 1024))G"; } # whole GiB: a multiple of either page size
size_mb() {                                         # 4G, 512M -> MB
	case "$1" in
	*[gG]) echo $((${1%[gG]} * 1024)) ;;
	*[mM]) echo "${1%[mM]}" ;;
	*) die "--memory $1: write a size in M or G, e.g. 4G" ;;
	esac
}
# enough DIR MB: DIR (a hugepages-NkB folder) holds at least MB.
enough() {
	local kb=${page_kb} have
	have=$(cat "$1/nr_hugepages" 2>/dev/null || echo 0)
	[ $((have * kb / 1024)) -ge "$2" ]
}
if $nohuge; then
	echo "$prog: eal.args has --no-huge: no hugepages reserved"
else
	hugepages=$(find_tool HUGEPAGES dpdk-hugepages.py dpdk-hugepages)
	if [ -z "$page_size" ]; then
		page_size=2M
		[ -d "$sysfs/kernel/mm/hugepages/hugepages-1048576kB" ] && page_size=1G
	fi
	case "$page_size" in
	1G | 1g) page_kb=1048576 ;;
	2M | 2m) page_kb=2048 ;;
	*) die "--page-size $page_size: write 2M or 1G" ;;
	esac
	if [ -n "$memory" ] || [ ${#socket_mem[@]} -eq 0 ]; then
		if [ -z "$memory" ]; then
			memory=1G
			[ "$mem_mb" -gt 0 ] && memory=$(mb_to_size "$mem_mb")
		fi
		if enough "$sysfs/kernel/mm/hugepages/hugepages-${page_kb}kB" "$(size_mb "$memory")"; then
			echo "$prog: $memory of $page_size hugepages already reserved: kept"
			run "$hugepages" --pagesize "$page_size" --mount
		else
			run "$hugepages" --pagesize "$page_size" --setup "$memory"
		fi
	else
		have_all=true
		for node in "${!socket_mem[@]}"; do
			[ "${socket_mem[$node]}" -gt 0 ] || continue
			enough "$sysfs/devices/system/node/node$node/hugepages/hugepages-${page_kb}kB" \
				"$(size_mb "$(mb_to_size "${socket_mem[$node]}")")" || have_all=false
		done
		if $have_all; then
			echo "$prog: the hugepages --socket-mem asks for are already reserved: kept"
		else
			run "$hugepages" --pagesize "$page_size" --clear --unmount
			for node in "${!socket_mem[@]}"; do
				[ "${socket_mem[$node]}" -gt 0 ] || continue
				run "$hugepages" --pagesize "$page_size" --node "$node" --reserve "$(mb_to_size "${socket_mem[$node]}")"
			done
		fi
		run "$hugepages" --pagesize "$page_size" --mount
	fi
	$dry || "$hugepages" --show
fi

# NICs: vfio-pci, with the IOMMU on. dpdk-devbind.py refuses a port
# whose kernel interface is up with routes (the management port, say).
if [ ${#pci[@]} -eq 0 ]; then
	echo "$prog: no PCI ports in $config (virtual devices only): nothing to bind"
else
	devbind=$(find_tool DEVBIND dpdk-devbind.py dpdk-devbind)
	if [ -z "$(ls -A "$sysfs/kernel/iommu_groups" 2>/dev/null)" ]; then
		echo "$prog: warning: no IOMMU groups: boot with intel_iommu=on iommu=pt (or amd_iommu=on); vfio-pci needs them" >&2
	fi
	run "${MODPROBE:-modprobe}" vfio-pci
	run "$devbind" --bind=vfio-pci "${pci[@]}"
	if ! $dry; then
		"$devbind" --status-dev net
		for p in "${pci[@]}"; do
			[[ $p == *:*:* ]] || p="0000:$p"
			drv=$(basename "$(readlink "$sysfs/bus/pci/devices/$p/driver" 2>/dev/null)" 2>/dev/null || true)
			[ "$drv" = vfio-pci ] || die "$p is on driver '${drv:-none}', not vfio-pci, after dpdk-devbind.py"
		done
	fi
fi

# The service's cores.
if $pin; then
	[ ${#lcores[@]} -gt 0 ] || die "--pin: $lcores_why"
	online=$(cat "$sysfs/devices/system/cpu/online")
	# The lcores must be online; the runtime's CPU is the first online one
	# after them, else the last before them.
	pick=$(python3 - "$online" "${lcores[*]}" "$runtime_cpu" <<'PY'
import sys
online = set()
for part in sys.argv[1].strip().split(","):
    lo, _, hi = part.partition("-")
    online.update(range(int(lo), int(hi or lo) + 1))
lcores = [int(c) for c in sys.argv[2].split()]
missing = [c for c in lcores if c not in online]
if missing:
    print(f"error lcores {missing} are not online CPUs (online: {sys.argv[1].strip()})")
elif sys.argv[3]:
    print(sys.argv[3] if int(sys.argv[3]) in online else f"error --runtime-cpu {sys.argv[3]} is not online")
else:
    after = [c for c in sorted(online) if c > max(lcores)]
    before = [c for c in sorted(online) if c < min(lcores) and c not in lcores]
    print(after[0] if after else before[-1] if before else "error no online CPU left beside the lcores for the Go runtime; give --runtime-cpu")
PY
)
	case "$pick" in
	error*) $dry && echo "$prog: warning: --pin: ${pick#error }" >&2 || die "--pin: ${pick#error }" ;;
	*) runtime_cpu=$pick ;;
	esac
	affinity="${lcores[*]} $runtime_cpu"
	dropin=$systemd_dir/shim6d.service.d/cpus.conf
	echo "+ write $dropin: CPUAffinity=$affinity, GOMAXPROCS=$((${#lcores[@]} + 1))"
	if ! $dry; then
		mkdir -p "$(dirname "$dropin")"
		cat >"$dropin" <<EOF
# Written by $prog from $config: the lcores of eal.args
# (${lcores[*]}) and CPU $runtime_cpu for the Go runtime's own threads.
[Service]
CPUAffinity=
CPUAffinity=$affinity
Environment=GOMAXPROCS=$((${#lcores[@]} + 1))
EOF
		if [ -d /run/systemd/system ] || [ -n "${SYSTEMCTL:-}" ]; then
			run "${SYSTEMCTL:-systemctl}" daemon-reload
		fi
	fi
fi
echo "$prog: done"
