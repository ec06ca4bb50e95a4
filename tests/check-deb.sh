#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The Debian packages, as a user gets them (tests/run-all runs this; root):
#
#   tests/check-deb.sh [OUTDIR]          (default: build-deb)
#
# 1. dpkg-buildpackage -us -uc -b on a copy of the tree (the .debs land in
#    OUTDIR, never beside the checkout), with the symbols file checked;
# 2. lintian: any error fails;
# 3. apt-get install of libdaxmap0, libdaxmap-dev, daxmapctl and the SQLite
#    packages (libdaxmap-sqlite0, libdaxmap-sqlite-dev,
#    libsqlite3-mod-daxmap), and what they install: the group daxmap,
#    /run/daxmap, the udev rule, the completion, a man page per function,
#    daxmapctl --version, the extension loaded by the sqlite3 shell;
# 4. the examples, as installed in /usr/share/doc/libdaxmap-dev/examples
#    (and libdaxmap-sqlite-dev's), compiled with pkg-config against the
#    installed packages and run: the write-ahead log and the SQLite one
#    here, all but SQLite's in the QEMU rig (tests/vm/run --iommu), on the
#    installed libdaxmap.so.0 and daxmapctl;
# 5. the packages are purged again, unless they were installed before or
#    DAXMAP_KEEP_PACKAGES=1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$root/build-deb}")
pkgs=(libdaxmap0 libdaxmap-dev daxmapctl libdaxmap-sqlite0 libdaxmap-sqlite-dev libsqlite3-mod-daxmap)
[ "$(id -u)" -eq 0 ] || { echo "check-deb: run as root (apt-get install)"; exit 1; }

step() { echo "-- check-deb: $* ($SECONDS s)"; }

rm -rf "$out"
mkdir -p "$out/src" "$out/bin"
# the tree as it is (committed or not), without build dirs or .git
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$root" ls-files -z --cached --others --exclude-standard |
		(cd "$root" && tar --null -T - -c) | tar -x -C "$out/src"
else
	tar -C "$root" --exclude='./build*' --exclude=./.git -c . | tar -x -C "$out/src"
fi

step "dpkg-buildpackage"
(cd "$out/src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 40 "$out/build.log"; echo "check-deb: the package build failed ($out/build.log)"; exit 1; }
debs=()
for p in "${pkgs[@]}"; do
	debs+=("$(ls "$out/${p}_"*.deb)")
done

step "lintian"
rc=0
lintian --fail-on error --info "$out"/*.changes >"$out/lintian.log" 2>&1 || rc=$?
grep -v 'root privileges' "$out/lintian.log" || true
[ "$rc" -eq 0 ] || { echo "check-deb: lintian reports errors"; exit 1; }

step "apt-get install ${debs[*]##*/}"
preinstalled=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$1 == "installed" { print $2 }' || true)
cleanup()
{
	if [ -z "$preinstalled" ] && [ "${DAXMAP_KEEP_PACKAGES:-0}" != 1 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	--allow-downgrades --reinstall "${debs[@]}" >"$out/install.log" 2>&1 ||
	{ cat "$out/install.log"; echo "check-deb: apt-get install failed"; exit 1; }

step "what the packages installed"
fails=0
# check WHAT COMMAND...: COMMAND must succeed
check()
{
	local what=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok: $what"; else echo "FAIL: $what ($*)"; fails=$((fails + 1)); fi
}
version=$(sed -n "s/^  version: '\(.*\)',$/\1/p" "$root/meson.build")
check "daxmapctl --version is $version" test "$(daxmapctl --version)" = "$version"
check "pkg-config finds daxmap $version" pkg-config --exact-version="$version" daxmap
check "the group daxmap exists (sysusers.d)" getent group daxmap
if command -v systemd-tmpfiles >/dev/null; then
	check "/run/daxmap is daxmap's, 0770 (tmpfiles.d)" test "$(stat -c %G:%a /run/daxmap)" = daxmap:770
fi
check "the udev rule is where udev reads it" test -f /lib/udev/rules.d/60-daxmap.rules
check "the completion is where bash-completion loads it" \
	test -f "$(pkg-config --variable=completionsdir bash-completion)/daxmapctl"
# (in the package: a system may exclude man pages from what dpkg unpacks)
pages=$(dpkg-deb -c "$out"/libdaxmap-dev_*.deb | grep -o 'man3/[a-zA-Z_0-9]*\.3\.gz')
n=0
for fn in $(sed -n 's/^[a-z].*[ *]\(daxmap_[a-z_0-9]*\)(.*/\1/p' /usr/include/daxmap.h); do
	n=$((n + 1))
	grep -qx "man3/$fn.3.gz" <<<"$pages" || { echo "FAIL: no man page for $fn"; fails=$((fails + 1)); }
done
echo "ok: a man page (or a link to its family's) for each of the $n functions of daxmap.h"
check "pkg-config finds daxmap-sqlite $version" pkg-config --exact-version="$version" daxmap-sqlite
# the sqlite3 shell with the installed extension, a database on an
# emulated device (the VFS takes the device from the URI)
vfs=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/sqlite3/daxmapvfs
truncate -s 64M "$out/sqlite.dev"
DAXMAP_RUNTIME_DIR=$out/runtime daxmapctl format "$out/sqlite.dev" >/dev/null
# (the shell opens its database argument before -cmd runs: :memory: first)
got=$(DAXMAP_RUNTIME_DIR=$out/runtime sqlite3 -batch :memory: -cmd ".load $vfs" \
	".open file:t.db?vfs=daxmap&device=$out/sqlite.dev" \
	'PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (42); SELECT x FROM t' 2>&1) || true
check "the sqlite3 shell loads $vfs.so and keeps a database in a pool" test "$got" = $'wal\n42'

step "the examples, built against the installed libdaxmap-dev"
ex=/usr/share/doc/libdaxmap-dev/examples
cflags=(-std=c11 -Wall -Wextra -Werror -O2)
read -ra daxmap <<<"$(pkg-config --cflags --libs daxmap)"
cc "${cflags[@]}" "$ex/wal.c" -o "$out/bin/wal" "${daxmap[@]}"
cc "${cflags[@]}" "$ex/vfio_dma.c" -o "$out/bin/vfio_dma" "${daxmap[@]}"
cc "${cflags[@]}" "$ex/rdma_server.c" -o "$out/bin/rdma_server" "${daxmap[@]}" -lrdmacm -libverbs
cc "${cflags[@]}" "$ex/rdma_client.c" -o "$out/bin/rdma_client" -lrdmacm -libverbs
# the registration-cache examples build against the installed header (they
# run in the rig's vm-foreign, on soft-RoCE)
read -ra daxmap_ucx <<<"$(pkg-config --cflags --libs daxmap ucx)"
cc "${cflags[@]}" "$ex/ucx_region.c" -o "$out/bin/ucx_region" "${daxmap_ucx[@]}"
read -ra daxmap_fabric <<<"$(pkg-config --cflags --libs daxmap libfabric)"
cc "${cflags[@]}" "$ex/fabric_region.c" -o "$out/bin/fabric_region" "${daxmap_fabric[@]}"
read -ra daxmap_sqlite <<<"$(pkg-config --cflags --libs daxmap-sqlite)"
cc "${cflags[@]}" /usr/share/doc/libdaxmap-sqlite-dev/examples/sqlite.c \
	-o "$out/bin/example_sqlite" "${daxmap_sqlite[@]}"
# (not ldd | grep -q: with pipefail, grep's early exit fails ldd)
libs=$(ldd "$out/bin/wal")
grep -q "libdaxmap.so.0 => /\(usr/\)\?lib/[a-z0-9_]*-linux-gnu/libdaxmap.so.0 " <<<"$libs" ||
	{ echo "FAIL: wal does not use the installed libdaxmap.so.0"; echo "$libs"; fails=$((fails + 1)); }
libs=$(ldd "$out/bin/example_sqlite")
grep -q "libdaxmap-sqlite.so.0 => /\(usr/\)\?lib/[a-z0-9_]*-linux-gnu/libdaxmap-sqlite.so.0 " <<<"$libs" ||
	{ echo "FAIL: example_sqlite does not use the installed libdaxmap-sqlite.so.0"; echo "$libs"; fails=$((fails + 1)); }
# the rig gets this directory only: the test script and the installed tool
cp "$root/tests/check-examples.sh" /usr/bin/daxmapctl "$out/bin/"
"$root/tests/check-examples.sh" host "$out/bin" /usr/bin/daxmapctl || fails=$((fails + 1))

if [ "${DAXMAP_DEB_RIG:-1}" = 1 ]; then
	step "the examples in the QEMU rig, on the installed library"
	export DAXMAP_VM_CACHE=${DAXMAP_VM_CACHE:-$root/build/vm-cache}
	"$root/tests/vm/run" --iommu --timeout 600 --build-dir "$out/bin" -- \
		bash "$out/bin/check-examples.sh" rig "$out/bin" "$out/bin/daxmapctl" || fails=$((fails + 1))
fi

step "done"
if ((fails)); then
	echo "check-deb: $fails failure(s)"
	exit 1
fi
echo "check-deb: the packages build, pass lintian, install, and the examples run against them"
