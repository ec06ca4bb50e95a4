#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run the example programs (examples/) and check what they promise:
#
#   check-examples.sh host|rig BINDIR DAXMAPCTL
#
# BINDIR holds wal, vfio_dma, rdma_server and rdma_client, and
# example_sqlite when the SQLite VFS is built, built in the tree or against
# the installed packages (the Debian package test).
#
# host: the write-ahead log on an emulated device: append, group commit,
#       growth, checkpoint, and recovery after its writer is killed (-9)
#       in the middle of appends, three times over; the SQLite example run
#       twice on an emulated device, its table keeping both rows.
# rig:  the QEMU rig (tests/vm/run --iommu): the log the same way on real
#       devdax; the RDMA server on soft-RoCE (a peer writes, has it made
#       durable and reads it back; a remove of the region revokes the
#       peer's rkey and completes); the VFIO example (QEMU's edu device
#       DMAs into a region; a remove unmaps its IOVA and completes).
# A && B || fail: fail when either step fails, as meant
# shellcheck disable=SC2015
# (no 'cmd | grep -q' under pipefail: grep's early exit can fail cmd)
set -uo pipefail
mode=$1 bin=$2 ctl=$3
tmp=$(mktemp -d)
export DAXMAP_RUNTIME_DIR=$tmp/runtime
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# wait_for FILE TEXT SECONDS: until FILE has a line with TEXT
wait_for()
{
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done 2>/dev/null
	return 1
}

# fresh_pool PATH [REGION SIZE]: a new pool, formatted over what was there
fresh_pool()
{
	"$ctl" format --force "$1" >/dev/null || { fail "format $1"; return 1; }
	[[ -z ${2:-} ]] || "$ctl" create "$1" "$2" "$3" >/dev/null || { fail "create $2 on $1"; return 1; }
}

# The durable records must be "record 1".."record M", in order, with M the
# last one the writer reported durable or the one after it (durable, but
# killed before it could say so). M goes to $recovered.
check_replay()
{
	local dev=$1 said=$2 got m
	got=$("$bin/wal" "$dev" replay) || { fail "wal replay after the kill"; return 1; }
	m=$(grep -c . <<<"$got")
	if [[ $got != "$(awk -v m="$m" 'BEGIN { for (i = 1; i <= m; i++) print "record " i }')" ]]; then
		fail "the log after the kill is not record 1..$m in order"
		return 1
	fi
	if ((m < said || m > said + 1)); then
		fail "the log holds $m records; the writer said $said were durable"
		return 1
	fi
	recovered=$m
}

# kill -9 the log's writer three times in the middle of its appends
wal_kills()
{
	local dev=$1 log=$tmp/stream said
	for round in 1 2 3; do
		"$bin/wal" "$dev" stream >"$log" &
		local p=$!
		wait_for "$log" "durable" 30 || { fail "wal stream wrote nothing"; kill -9 $p; return; }
		sleep 0.$((RANDOM % 5 + 3))
		kill -9 $p
		wait $p 2>/dev/null
		said=$(sed -n 's/^durable \([0-9]*\)$/\1/p' "$log" | tail -n1)
		check_replay "$dev" "${said:-0}" || return
		ok "round $round: killed after 'durable $said'; $recovered records recovered, in order"
	done
}

wal_host()
{
	local dev=$tmp/wal.dev out big
	truncate -s 256M "$dev"
	fresh_pool "$dev" || return
	"$bin/wal" "$dev" replay >/dev/null 2>&1 && fail "replay of a pool without a log succeeded"
	"$bin/wal" "$dev" append "first" "second, in the same commit" &&
		"$bin/wal" "$dev" append "third" || fail "wal append"
	out=$("$bin/wal" "$dev" replay)
	[[ $out == $'first\nsecond, in the same commit\nthird' ]] || fail "replay gave: $out"
	ok "append (a group commit of two, then one) and replay"
	# past the region's first 8 MiB: it grows, the records stay
	big=$(head -c 100000 /dev/zero | tr '\0' x)
	for ((i = 0; i < 10; i++)); do
		"$bin/wal" "$dev" append "$big" "$big" "$big" "$big" "$big" "$big" "$big" "$big" \
			"$big" "$big" || { fail "append of 1 MB, round $i"; return; }
	done
	out=$("$bin/wal" "$dev" replay | awk '{ n++; l += length($0) } END { print n, l }')
	[[ $out == "103 10000036" ]] || fail "after growing, replay counts $out"
	grep -q '"size":16777216' <<<"$("$ctl" regions "$dev")" || fail "the log did not grow to 16 MiB"
	ok "the log grew past its region's size, and kept its records"
	"$bin/wal" "$dev" checkpoint && [[ -z $("$bin/wal" "$dev" replay) ]] ||
		fail "checkpoint did not empty the log"
	ok "checkpoint"
	wal_kills "$dev"
}

# examples/sqlite.c: one row more each run, in a database in the pool
sqlite_host()
{
	local dev=$tmp/sqlite.dev out
	[[ -x $bin/example_sqlite ]] || { ok "no example_sqlite (built without the SQLite VFS)"; return; }
	truncate -s 256M "$dev"
	fresh_pool "$dev" || return
	"$bin/example_sqlite" "$dev" >/dev/null || { fail "example_sqlite, first run"; return; }
	out=$("$bin/example_sqlite" "$dev") || { fail "example_sqlite, second run: $out"; return; }
	[[ $out == *"runs=2 "* ]] || { fail "example_sqlite, second run: $out"; return; }
	grep -q '"name":"example.db"' <<<"$("$ctl" regions "$dev")" ||
		fail "no region example.db in the pool"
	ok "the SQLite example: a database in a region, a row per run ($(tail -n1 <<<"$out"))"
}

wal_rig()
{
	local dev=${DAXMAP_TEST_DEVDAX_2M:?not in the rig}
	fresh_pool "$dev" || return
	"$bin/wal" "$dev" append "on devdax" && [[ $("$bin/wal" "$dev" replay) == "on devdax" ]] ||
		fail "wal on $dev"
	"$bin/wal" "$dev" checkpoint
	wal_kills "$dev"
}

# An address of the RDMA device's netdev for rdma_cm (the rig's dummy0
# carries rxe0 and may have none yet).
rdma_addr()
{
	local ndev
	ndev=$(cat "/sys/class/infiniband/$DAXMAP_TEST_RXE/ports/1/gid_attrs/ndevs/0" 2>/dev/null)
	grep -q 'inet 10.233.0.1/' <<<"$(ip addr show dev "${ndev:-dummy0}")" ||
		ip addr add 10.233.0.1/24 dev "${ndev:-dummy0}" || return 1
	modprobe rdma_ucm 2>/dev/null
	echo 10.233.0.1
}

rdma_rig()
{
	local dev=${DAXMAP_TEST_DEVDAX_2M} addr slog=$tmp/server clog=$tmp/client
	if [[ ! -x $bin/rdma_server ]]; then
		fail "no rdma_server (built without librdmacm?)"
		return
	fi
	[[ -n ${DAXMAP_TEST_RXE:-} ]] || { fail "no soft-RoCE device in the rig"; return; }
	addr=$(rdma_addr) || { fail "no address for $DAXMAP_TEST_RXE"; return; }
	fresh_pool "$dev" rdma 8M || return
	"$bin/rdma_server" "$dev" rdma "$addr" >"$slog" 2>&1 &
	local server=$!
	pids+=("$server")
	wait_for "$slog" "serving region" 30 || { fail "rdma_server: $(cat "$slog")"; return; }
	out=$("$bin/rdma_client" "$addr" 7471 0 "hello, durable world" 2>&1)
	[[ $out == "persisted 20 bytes at 0" ]] || fail "rdma_client: $out"
	ok "a peer wrote 20 bytes with RDMA WRITE, the server made them durable, the peer read them back"
	# the server holds the region: a mapping and a revocable rdma pin
	grep -q '"backend":"rdma"' <<<"$("$ctl" refs "$dev" rdma)" || fail "no rdma pin in daxmapctl refs"
	"$bin/rdma_client" --wait-revoke "$addr" 7471 4096 "second" >"$clog" 2>&1 &
	local client=$!
	pids+=("$client")
	wait_for "$clog" "waiting for the region" 30 || { fail "rdma_client: $(cat "$clog")"; return; }
	"$ctl" remove --timeout 30 "$dev" rdma || fail "daxmapctl remove while the server exposes it"
	wait "$client" || fail "rdma_client --wait-revoke: $(cat "$clog")"
	grep -q "RDMA WRITE after the revoke: remote access error" "$clog" ||
		fail "the old rkey still worked: $(cat "$clog")"
	wait "$server" || fail "rdma_server: $(cat "$slog")"
	grep -q "region revoked" "$slog" || fail "rdma_server did not say it was revoked"
	ok "a remove revoked the server's MR (the peer's next write: remote access error) and completed"
}

vfio_rig()
{
	local dev=${DAXMAP_TEST_DEVDAX_2M} log=$tmp/vfio
	if [[ -z ${DAXMAP_TEST_VFIO_GROUP:-} ]]; then
		fail "no VFIO device: the rig runs with --iommu for this"
		return
	fi
	fresh_pool "$dev" dma 4M || return
	out=$("$bin/vfio_dma" "$dev" dma "$DAXMAP_TEST_VFIO_GROUP" "$DAXMAP_TEST_VFIO_DEV" 2>&1)
	grep -q "the device wrote 2048 bytes" <<<"$out" || fail "vfio_dma: $out"
	ok "the device DMAed into the region through the IOMMU; the bytes are durable"
	"$bin/vfio_dma" --wait-revoke "$dev" dma "$DAXMAP_TEST_VFIO_GROUP" "$DAXMAP_TEST_VFIO_DEV" \
		>"$log" 2>&1 &
	local p=$!
	pids+=("$p")
	wait_for "$log" "holding the IOVA" 60 || { fail "vfio_dma --wait-revoke: $(cat "$log")"; return; }
	"$ctl" remove --timeout 30 "$dev" dma || fail "daxmapctl remove while the device may DMA"
	wait "$p" && grep -q "revoked" "$log" || fail "vfio_dma --wait-revoke: $(cat "$log")"
	ok "a remove had the IOVA unmapped, and completed"
}

case $mode in
host)
	wal_host
	sqlite_host
	;;
rig)
	wal_rig
	rdma_rig
	vfio_rig
	;;
*)
	echo "usage: check-examples.sh host|rig BINDIR DAXMAPCTL" >&2
	exit 2
	;;
esac
if ((fails)); then
	echo "check-examples: $fails failure(s)"
	exit 1
fi
echo "check-examples: every example did what it says ($mode)"
