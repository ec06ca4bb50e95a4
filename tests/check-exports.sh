#!/bin/sh
# Every symbol libdaxmap exports starts with daxmap_ (-fvisibility=hidden
# plus the version script); the version node itself is the only other name.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' | sed 's/@.*//')
[ -n "$syms" ] || { echo "no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^daxmap_' || true)
if [ -n "$bad" ]; then
	echo "exported symbols without the daxmap_ prefix:"
	printf '%s\n' "$bad"
	exit 1
fi
# and every exported symbol is declared in the public header
for s in $syms; do
	grep -q "\\b$s(" "$2" || { echo "$s is exported but not in $2"; exit 1; }
done
soname=$(objdump -p "$lib" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libdaxmap.so.0 ] || { echo "SONAME is '$soname'"; exit 1; }
echo "$(printf '%s\n' "$syms" | wc -l) exported symbols, all daxmap_*, SONAME $soname"
