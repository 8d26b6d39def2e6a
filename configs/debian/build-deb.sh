#!/usr/bin/env bash
# build-deb.sh BINDIR OUTDIR: the shim6d Debian package from binaries
# already built (make build puts them in bin/), with dpkg-deb alone: no
# network, no debhelper. Prints the .deb's path.
#
# The version is 0~gitDATE.HASH of the commit (+dirty for uncommitted
# changes), so a later commit sorts later and any tag can replace it.
set -euo pipefail

bindir=$(realpath "${1:?usage: build-deb.sh BINDIR OUTDIR}")
outdir=$(realpath "${2:?usage: build-deb.sh BINDIR OUTDIR}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/configs/debian

for b in shim6d shim6ctl; do
	[ -x "$bindir/$b" ] || { echo "build-deb.sh: $bindir/$b missing: run make build first" >&2; exit 1; }
done

if git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
	version="0~git$(git -C "$repo" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git -C "$repo" rev-parse --short=7 HEAD)"
	git -C "$repo" diff --quiet HEAD 2>/dev/null || version="$version+dirty"
else
	version="0~dev"
fi
date=$(date -u -R)
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
	date=$(TZ=UTC git -C "$repo" log -1 --format=%cd --date=rfc2822)
fi

# dpkg-shlibdeps wants the tree where debhelper would put it:
# debian/PACKAGE under a directory with debian/control.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/debian/shim6d
mkdir -p "$root/DEBIAN"

inst() { # inst MODE SRC DST
	install -D -m "$1" "$2" "$root$3"
}

inst 0755 "$bindir/shim6d" /usr/sbin/shim6d
inst 0755 "$bindir/shim6ctl" /usr/bin/shim6ctl
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$root/usr/sbin/shim6d" "$root/usr/bin/shim6ctl"
inst 0755 "$repo/configs/setup-host.sh" /usr/sbin/shim6d-setup-host
inst 0644 "$repo/configs/systemd/shim6d.service" /lib/systemd/system/shim6d.service
inst 0644 "$repo/configs/systemd/shim6d-setup-host.service" /lib/systemd/system/shim6d-setup-host.service
inst 0644 "$repo/configs/prometheus/shim6d.rules.yml" /usr/share/shim6d/prometheus/shim6d.rules.yml
inst 0644 "$repo/configs/prometheus/shim6d.rules.test.yml" /usr/share/shim6d/prometheus/shim6d.rules.test.yml
inst 0644 "$repo/configs/grafana/shim6d.json" /usr/share/shim6d/grafana/shim6d.json
# The Wireshark dissector, once it is in the tree: Wireshark's global Lua
# plugin folder on Debian (tshark -G folders).
if [ -f "$repo/configs/wireshark/shim6.lua" ]; then
	inst 0644 "$repo/configs/wireshark/shim6.lua" /usr/lib/x86_64-linux-gnu/wireshark/plugins/shim6.lua
fi

doc=/usr/share/doc/shim6d
inst 0644 "$repo/configs/example-production.toml" $doc/examples/shim6d-production.toml
inst 0644 "$repo/configs/lab.toml" $doc/examples/shim6d-reference.toml
inst 0644 "$here/copyright" $doc/copyright
gzip -9n -c "$repo/README.md" >"$work/README.md.gz"
inst 0644 "$work/README.md.gz" $doc/README.md.gz
cat >"$work/changelog" <<EOF
shim6d ($version) unstable; urgency=medium

  * Built from commit $(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown).
    See README.md for what it does.

 -- shim6d developers <shim6d@example.org>  $date
EOF
gzip -9n -c "$work/changelog" >"$work/changelog.gz"
inst 0644 "$work/changelog.gz" $doc/changelog.gz
for m in "$here"/man/*.[0-9]; do
	sec=${m##*.}
	gzip -9n -c "$m" >"$work/$(basename "$m").gz"
	inst 0644 "$work/$(basename "$m").gz" "/usr/share/man/man$sec/$(basename "$m").gz"
done

# Depends: the shared libraries the binaries link (DPDK's, libc), by
# dpkg-shlibdeps; the mempool driver EAL loads as a plugin is added in
# control.in, as nothing links it.
printf 'Source: shim6d\n\nPackage: shim6d\nArchitecture: amd64\n' >"$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"$root/usr/sbin/shim6d" -e"$root/usr/bin/shim6ctl" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" "$here/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +

mkdir -p "$outdir"
deb=$outdir/shim6d_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
