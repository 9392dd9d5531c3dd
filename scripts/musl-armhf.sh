#!/usr/bin/env bash
# Debian's musl for 32-bit ARM (hard float), unpacked into one folder for
# linking `armv7-unknown-linux-musleabihf` and
# `thumbv7neon-unknown-linux-musleabihf` programs with `-Z build-std`:
# rustup has no Rust std for these targets, so neither the crt objects
# nor the libc.a that a musl target's std ships ("self-contained") come
# with the toolchain. scripts/size_table.py --build-std calls this.
#
#   scripts/musl-armhf.sh [DIR]    (default: target/musl-armhf)
#
# Idempotent: with DIR/libc.a there, it does nothing. Otherwise, as root
# only, it installs what is missing and nothing else: the cross gcc
# (gcc-arm-linux-gnueabihf, the linker) when arm-linux-gnueabihf-gcc is
# not found, and the armhf architecture in dpkg when apt does not know
# musl-dev:armhf. musl-dev:armhf itself is only downloaded
# (`apt-get download`) and unpacked into DIR (`dpkg -x`), not installed.
# DIR gets Debian's crt1.o, crti.o, crtn.o, rcrt1.o and libc.a, and the
# cross gcc's libgcc_eh.a as libunwind.a (std's unwind crate links
# `-lunwind` on musl; with panic=immediate-abort nothing of it is left).
# Prints DIR on stdout; says on stderr what it did or why it cannot.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${1:-target/musl-armhf}
say() { echo "musl-armhf: $*" >&2; }

if [ -f "$dir/libc.a" ] && [ -f "$dir/libunwind.a" ]; then
  echo "$dir"; exit 0
fi
root() {
  if [ "$(id -u)" != 0 ]; then say "not root: cannot $1"; exit 1; fi
}
apt_update() {
  # The armhf security index has been served stale here (size mismatch);
  # apt then says so and keeps the rest, which is all this needs.
  apt-get update -qq >/dev/null 2>&1 || say "apt-get update reported errors (kept going)"
}
if ! command -v arm-linux-gnueabihf-gcc >/dev/null; then
  root "install gcc-arm-linux-gnueabihf"
  say "installing gcc-arm-linux-gnueabihf (the linker)"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross >/dev/null
fi
if ! apt-cache show musl-dev:armhf >/dev/null 2>&1; then
  root "add the armhf architecture"
  dpkg --print-foreign-architectures | grep -qx armhf || {
    say "adding the armhf architecture to dpkg"; dpkg --add-architecture armhf; }
  apt_update
  apt-cache show musl-dev:armhf >/dev/null 2>&1 || {
    say "apt knows no musl-dev:armhf, even after apt-get update"; exit 1; }
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "downloading musl-dev:armhf into $dir (not installed)"
(cd "$tmp" && apt-get download -q musl-dev:armhf >/dev/null 2>&1) || {
  say "apt-get download musl-dev:armhf failed"; exit 1; }
dpkg -x "$tmp"/musl-dev_*_armhf.deb "$tmp/x"
mkdir -p "$dir"
cp "$tmp"/x/usr/lib/arm-linux-musleabihf/{crt1.o,crti.o,crtn.o,rcrt1.o,Scrt1.o,libc.a} "$dir/"
for lib in libm libpthread libdl librt libutil; do
  cp "$tmp/x/usr/lib/arm-linux-musleabihf/$lib.a" "$dir/"  # empty: all in libc.a
done
cp "$(arm-linux-gnueabihf-gcc -print-file-name=libgcc_eh.a)" "$dir/libunwind.a"
dpkg-deb -f "$tmp"/musl-dev_*_armhf.deb Version >"$dir/VERSION"
say "musl $(cat "$dir/VERSION") for armhf in $dir"
echo "$dir"
