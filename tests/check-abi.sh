#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The library's ABI against the last release's, as abidiff (abigail-tools)
# sees it from the DWARF of a -g build:
#
#   check-abi.sh BASELINE LIBRARY HEADERS_DIR [SUPPRESSIONS]
#
# BASELINE is abidw's XML of the released library (tests/abi/, see
# README.md, "Versions and ABI"). Only what <daxmap.h> declares counts (the
# opaque structs' insides are private). Added functions are fine; anything
# else abidiff reports fails: a removed or re-versioned symbol, a changed
# signature, a public struct or enum that changed. A change reviewed as
# compatible (a new enumerator, say) goes into SUPPRESSIONS
# (tests/abi/reviewed.abignore).
set -eu
base=$1 lib=$2 hdrs=$3 supp=${4:-}
if ! command -v abidiff >/dev/null; then
	echo "skipped: abidiff not found (apt-get install abigail-tools)"
	exit 77
fi
set -- --no-added-syms --headers-dir2 "$hdrs" --drop-private-types
[ -n "$supp" ] && set -- "$@" --suppressions "$supp"
rc=0
out=$(abidiff "$@" "$base" "$lib" 2>&1) || rc=$?
printf '%s\n' "$out"
# abidiff's exit status: bits 1 error, 2 usage, 4 change, 8 incompatible
if [ $rc -ne 0 ]; then
	if [ $((rc & 3)) -ne 0 ]; then
		echo "check-abi: abidiff failed (status $rc)"
	elif [ $((rc & 8)) -ne 0 ]; then
		echo "check-abi: $(basename "$lib") breaks the ABI of $(basename "$base")"
	else
		echo "check-abi: $(basename "$lib") changes the ABI of $(basename "$base");" \
		     "if it is compatible, add a suppression to ${supp:-the suppressions file}"
	fi
	exit 1
fi
echo "check-abi: $(basename "$lib") keeps the ABI of $(basename "$base")"
