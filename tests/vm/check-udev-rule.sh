#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The udev rule's matches against the kernel's own device-DAX nodes (the
# rig has no udevd): for every /dev/dax* character device, the subsystem
# sysfs gives and the node's name must match the rule's SUBSYSTEM and
# KERNEL, so that udev would hand it to the rule's GROUP.
#
#   check-udev-rule.sh RULES_FILE
set -euo pipefail
rule=$(grep -v '^#' "$1" | grep 'GROUP=')
subsystem=$(sed -n 's/.*SUBSYSTEM=="\([^"]*\)".*/\1/p' <<<"$rule")
kernel=$(sed -n 's/.*KERNEL=="\([^"]*\)".*/\1/p' <<<"$rule")
group=$(sed -n 's/.*GROUP="\([^"]*\)".*/\1/p' <<<"$rule")
n=0
for node in /dev/dax*; do
	[[ -c $node ]] || continue
	sys=/sys/dev/char/$((16#$(stat -c %t "$node")))":"$((16#$(stat -c %T "$node")))
	sub=$(basename "$(readlink -f "$sys/subsystem")")
	name=$(sed -n 's/^DEVNAME=//p' "$sys/uevent")
	# udev's KERNEL== is a shell glob on the kernel's name
	# shellcheck disable=SC2053
	if [[ $sub != "$subsystem" || $name != $kernel ]]; then
		echo "FAIL: $node: subsystem '$sub', name '$name'; the rule wants '$subsystem', '$kernel'"
		exit 1
	fi
	echo "$node: subsystem $sub, name $name: the rule gives it to group $group"
	n=$((n + 1))
done
if ((n == 0)); then
	echo "skipped: no /dev/dax* here (the QEMU rig has them)"
	exit 77
fi
