#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The bash completion of daxmapctl, sourced into this shell and driven as
# bash drives it (COMP_WORDS, COMP_CWORD), against a real daxmapctl and
# pools on emulated devices:
#
#   check-completion.sh COMPLETION DAXMAPCTL
#
# Commands and options must be those 'daxmapctl --help' and 'daxmapctl CMD
# --help' give (so the two cannot drift apart); region names come from the
# pool at the command's PATH, with its --align. Where /dev/dax* exist (the
# QEMU rig: $DAXMAP_TEST_DEVDAX_2M), a PATH completes to them, and a pool
# there gives its regions.
set -uo pipefail
comp=$1 ctl=$(realpath "$2")
fails=0 n=0
# shellcheck source=/dev/null
source "$comp"
tmp=$(mktemp -d)
export DAXMAP_RUNTIME_DIR=$tmp/runtime
trap 'rm -rf "$tmp"' EXIT

# complete WORD... : COMPREPLY for the last word (the one being typed)
complete_words()
{
	COMP_WORDS=("$ctl" "$@")
	COMP_CWORD=$#
	COMP_LINE="${COMP_WORDS[*]}"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_daxmapctl
}

# expect "WANT" WORD... : the sorted COMPREPLY, space-separated, is WANT
expect()
{
	local want=$1 got
	shift
	complete_words "$@"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
	n=$((n + 1))
	if [[ $got != "$want" ]]; then
		echo "FAIL: daxmapctl $* <TAB>: got '$got', want '$want'"
		fails=$((fails + 1))
	fi
}

sorted() { tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'; }

# commands: as 'daxmapctl --help' lists them, and 'help'
cmds=$("$ctl" --help | sed -n 's/^  \([a-z-]\+\) .*/\1/p' | tr '\n' ' ')
expect "$(sorted <<<"$cmds help")" ""
expect "reclaim refs regions remove resize" re
expect "--help --version" --
# options: as each command's usage gives them (-u, --align, ...)
for c in $cmds; do
	opts=$("$ctl" "$c" --help | sed '/^$/q' | grep -o -- '[[|] *-[-a-z]\+' | tr -d '[| ' |
	       tr '\n' ' ')
	expect "$(sorted <<<"$opts --help")" "$c" -
done
expect "--timeout" remove --t
expect "0 30 5 forever" remove --timeout ""
expect "1G 2M" format --extent-size ""
expect "" nosuchcommand ""

# pools on emulated devices: one at the default alignment (2 MiB), one
# formatted with --align 1G, which must be given again to open it
dev=$tmp/dev2m dev1g=$tmp/dev1g
truncate -s 256M "$dev" && truncate -s 4G "$dev1g"
if ! "$ctl" format "$dev" >/dev/null || ! "$ctl" format --align 1G "$dev1g" >/dev/null; then
	echo "FAIL: cannot make the test pools"
	exit 1
fi
# 'q"x\y' is a valid name (printable ASCII, no space or '/'): JSON escapes
# it, and the completion quotes it for the shell
for r in wal idx-1 'q"x\y'; do
	"$ctl" create "$dev" "$r" 2M >/dev/null || { echo "FAIL: create $r"; exit 1; }
done
"$ctl" create --align 1G "$dev1g" big 1G >/dev/null || { echo "FAIL: create big"; exit 1; }

expect 'idx-1 q\"x\\y wal' remove "$dev" ""
expect "wal" remove "$dev" w
expect 'idx-1 q\"x\\y wal' refs -u "$dev" ""
expect "idx-1" resize --timeout 5 "$dev" i
expect "" resize "$dev" wal ""          # the SIZE
expect "" create "$dev" ""              # a new name
expect "" regions "$dev" ""             # no argument after PATH
expect "big" remove --align 1G "$dev1g" ""
expect "big" remove --align=1G "$dev1g" ""
expect "big" refs -a 1G "$dev1g" b
expect "" remove --align 1G "$dev" ""   # 2 MiB extents: no pool at 1 GiB
expect "" remove "$tmp/missing" ""      # no pool at all, and no noise
expect "$dev" info "$tmp/dev2"          # a file
expect "$dev1g" info --align 1G "$tmp/dev1"
# shellcheck disable=SC2088
HOME=$tmp expect "wal" remove "~/dev2m" w

# device-DAX nodes: every /dev/dax* is offered for a PATH
devs=$(find /dev -maxdepth 1 -name 'dax*' -type c | sort | tr '\n' ' ' | sed 's/ $//')
if [[ -n $devs ]]; then
	expect "$devs" info /dev/dax
	if [[ -n ${DAXMAP_TEST_DEVDAX_2M:-} ]]; then
		if ! "$ctl" format --force "$DAXMAP_TEST_DEVDAX_2M" >/dev/null ||
		   ! "$ctl" create "$DAXMAP_TEST_DEVDAX_2M" rig-wal 2M >/dev/null; then
			echo "FAIL: a pool on $DAXMAP_TEST_DEVDAX_2M"
			exit 1
		fi
		expect "rig-wal" remove "$DAXMAP_TEST_DEVDAX_2M" ""
		"$ctl" remove "$DAXMAP_TEST_DEVDAX_2M" rig-wal
	fi
else
	expect "" info /dev/dax
	echo "no /dev/dax* here: device names checked in the QEMU rig"
fi

if ((fails)); then
	echo "check-completion: $fails of $n cases failed"
	exit 1
fi
echo "check-completion: $n cases pass"
