#!/bin/sh
# Install into a scratch DESTDIR and build a program the way a user would:
# cc prog.c $(pkg-config --cflags --libs daxmap). It maps an emulated device
# and persists to it.
set -eu
build=$1 src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
meson install -C "$build" --no-rebuild --destdir "$dest" >/dev/null
pcdir=$(dirname "$(find "$dest" -name daxmap.pc | head -n1)")
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
cc -std=c11 -Wall -Werror -o "$dest/prog" "$src" $(pkg-config --cflags --libs daxmap)
libdir=$(pkg-config --variable=libdir daxmap)
truncate -s 4M "$dest/dev"
LD_LIBRARY_PATH="$libdir" "$dest/prog" "$dest/dev"
# what the program persisted is in the file
grep -q "persisted through pkg-config" "$dest/dev"
echo "pkg-config build of $(basename "$src") works"
