#!/usr/bin/env bash
# Cross-build the C interface (libmproc.a) for 64-bit and 32-bit ARM Linux,
# compile the C test program and the C example daemon with the cross gcc,
# and run both under qemu-user.  Debian x86_64 host.
#
#   bash ffi/scripts/c-cross.sh           # from anywhere
#
# Installs what is missing (idempotent): qemu-user, the cross gcc + libc for
# each target, the target's Rust std from rustup (as scripts/cross-test.sh,
# whose toolchain choice, target dir and qemu runner rules this follows).
#
# Exit status:
#   0  every target built and both programs passed
#   0  and exactly one line "SKIPPED: <reason>" when the package archive or
#      rustup's targets cannot be reached
#   1  any build or run failure, or a timeout
#
# Environment knobs:
#   TARGETS       rust triples (default: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
#   RUN_TIMEOUT   seconds per program run (default 300)
#   CROSS_TARGET_DIR  cargo target dir (default target/cross-rustup, shared with
#                 scripts/cross-test.sh)
#
# What qemu-user cannot do, and how the programs cope (each prints "SKIP:"
# with the reason where it skips): it has no robust futex lists (a dead lock
# holder is found by the waiters' look at its pid instead: the -EOWNERDEAD
# check still runs, only later), no mq_notify (not used by the C programs),
# and it hides the thread count (the fork-with-threads refusal is not
# tested from C).
#
# Pitfalls (see scripts/cross-test.sh):
# - qemu runner: with multiarch libc6:<arch> installed use NO -L; otherwise
#   `-L /usr/<gnu>` is required.
# - rustup's cargo with RUSTC/RUSTDOC unset, so Debian's cargo never pairs
#   with rustup's rustc.
# - Target dir target/cross-rustup (shared with scripts/cross-test.sh's
#   rustup builds): native builds in target/ are not invalidated.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FFI_DIR=$(dirname "$SCRIPT_DIR")
ROOT=$(dirname "$FFI_DIR")
TARGETS=${TARGETS:-"aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

log()  { printf '==> [%4ss] %s\n' "$SECONDS" "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 0; }

cd "$ROOT" || die "cannot cd to $ROOT"
command -v apt-get >/dev/null || die "this script needs Debian/apt"

target_info() {
  case "$1" in
    aarch64-unknown-linux-gnu)     echo "arm64 aarch64-linux-gnu qemu-aarch64" ;;
    armv7-unknown-linux-gnueabihf) echo "armhf arm-linux-gnueabihf qemu-arm" ;;
    *) return 1 ;;
  esac
}

is_installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
UPDATED=0
apt_install() {  # installs only what is missing
  local missing=() p out
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  if [ $UPDATED = 0 ]; then
    out=$($SUDO apt-get update "${APT_OPTS[@]}" 2>&1)
    UPDATED=1
    grep -qE '^(Hit|Get):' <<<"$out" || skip "Debian package archive unreachable (apt-get update)"
  fi
  log "apt-get install ${missing[*]}"
  out=$($SUDO apt-get -y --no-install-recommends "${APT_OPTS[@]}" install "${missing[@]}" 2>&1) && return 0
  printf '%s\n' "$out" | tail -n 20 >&2
  return 1
}

RUSTUP=$(command -v rustup || { [ -x "$HOME/.cargo/bin/rustup" ] && echo "$HOME/.cargo/bin/rustup"; } || true)
[ -n "$RUSTUP" ] || skip "no rustup: the cross targets' Rust std comes from rustup here"
CARGO_BIN=$(dirname "$RUSTUP")/cargo

apt_install qemu-user || die "cannot install qemu-user"

SUMMARY=(); FAILED=0
result() {
  SUMMARY+=("$(printf '%-4s %-32s %s' "$1" "$2" "$3")")
  [ "$1" = PASS ] || FAILED=1
}

# run_daemon RUNNER PROGRAM DIR: starts the example daemon, waits for its
# "ready" line, asks for a status line (SIGUSR1), stops it (SIGTERM) and
# checks the clean exit and that nothing is left behind.
run_daemon() {
  local runner=$1 prog=$2 dir=$3 out pid rc i
  out=$dir/daemon.out; rm -f "$out" "$dir/daemon.pid"
  # shellcheck disable=SC2086  # RUNNER is a word list
  $runner "$prog" "$dir/daemon.pid" "$RUN_TIMEOUT" >"$out" 2>&1 &
  pid=$!
  # Polling a file for a line (a watchdog's loop: the line is the signal).
  for ((i = 0; i < 600; i++)); do grep -q '^ready' "$out" && break; sleep 0.1; done
  grep -q "^ready pid=$pid\$" "$out" || { echo "daemon: no ready line for pid $pid"; cat "$out"; kill -9 "$pid"; return 1; }
  [ "$(cat "$dir/daemon.pid")" = "$pid" ] || { echo "daemon: pidfile does not hold $pid"; kill -9 "$pid"; return 1; }
  kill -USR1 "$pid"
  for ((i = 0; i < 600; i++)); do grep -q '^status:' "$out" && break; sleep 0.1; done
  grep -q "^status: pid=$pid state=running workers=2/2 " "$out" || { echo "daemon: no status line"; cat "$out"; kill -9 "$pid"; return 1; }
  kill -TERM "$pid"
  wait "$pid"; rc=$?
  cat "$out"
  [ $rc = 0 ] || { echo "daemon: exit status $rc"; return 1; }
  grep -q '^stopped cleanly: ' "$out" || { echo "daemon: no clean stop"; return 1; }
  [ ! -e "$dir/daemon.pid" ] || { echo "daemon: pidfile left"; return 1; }
  if ls /dev/shm /dev/mqueue 2>/dev/null | grep -q "mproc.*-$pid\$"; then
    echo "daemon: left in /dev/shm or /dev/mqueue: $(ls /dev/shm /dev/mqueue 2>/dev/null | grep "mproc.*-$pid\$")"; return 1
  fi
  return 0
}

for T in $TARGETS; do
  T0=$SECONDS
  if ! read -r ARCH GNU QEMU < <(target_info "$T"); then result FAIL "$T" "unknown target"; continue; fi
  log "=== $T (arch $ARCH, cc $GNU-gcc, runner $QEMU)"
  if ! apt_install "gcc-$GNU" "libc6-dev-$ARCH-cross"; then result FAIL "$T" "cannot install cross gcc"; continue; fi
  if ! "$RUSTUP" target list --installed 2>/dev/null | grep -qx "$T"; then
    log "rustup target add $T"
    "$RUSTUP" target add "$T" >&2 || { result FAIL "$T" "rustup target add failed"; continue; }
  fi
  RUNNER=$QEMU; is_installed "libc6:$ARCH" || RUNNER="$QEMU -L /usr/$GNU"
  TU=$(tr 'a-z-' 'A-Z_' <<<"$T")
  TDIR=${CROSS_TARGET_DIR:-target/cross-rustup}
  OUT=$TDIR/$T/c; mkdir -p "$OUT"
  log "cargo build -p mproc-ffi --target $T (target dir $TDIR)"
  if ! env -u RUSTC -u RUSTDOC "CARGO_TARGET_${TU}_LINKER=$GNU-gcc" "$CARGO_BIN" build -q -p mproc-ffi \
       --target "$T" --target-dir "$TDIR" 2>&1 | tail -n 30; then
    result FAIL "$T" "cargo build failed"; continue
  fi
  LIB=$TDIR/$T/debug/libmproc.a
  [ -f "$LIB" ] || { result FAIL "$T" "no $LIB after the build"; continue; }
  ok=1
  for prog in "test_mproc tests/c/test_mproc.c tests/c/test_sync.c tests/c/test_pool_daemon.c" \
              "daemon examples/c/daemon.c"; do
    read -r name srcs <<<"$prog"
    # shellcheck disable=SC2086  # srcs is a word list
    if ! "$GNU-gcc" -std=c11 -Wall -Wextra -Werror -g -O1 -I ffi/include \
         $(printf 'ffi/%s ' $srcs) "$LIB" -lpthread -ldl -lm -lrt -o "$OUT/$name"; then
      result FAIL "$T" "compiling $name failed"; ok=0; break
    fi
  done
  [ $ok = 1 ] || continue
  log "running test_mproc under $RUNNER"
  # shellcheck disable=SC2086
  MPROC_UNDER_QEMU=1 timeout -k 10 "$RUN_TIMEOUT" $RUNNER "$OUT/test_mproc" | tee "$OUT/test_mproc.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ] || ! tail -n 1 "$OUT/test_mproc.log" | grep -q ', 0 failed$'; then
    result FAIL "$T" "test_mproc exited $rc: $(grep -m3 '^FAIL' "$OUT/test_mproc.log" | tr '\n' ' ')"; continue
  fi
  log "running the example daemon under $RUNNER"
  if ! MPROC_UNDER_QEMU=1 run_daemon "$RUNNER" "$OUT/daemon" "$OUT"; then
    result FAIL "$T" "the example daemon failed"; continue
  fi
  result PASS "$T" "($((SECONDS - T0))s; $(tail -n 1 "$OUT/test_mproc.log"); daemon stopped cleanly)"
done

echo
echo "==== C interface cross summary ===="
printf '%s\n' "${SUMMARY[@]}"
if [ $FAILED = 0 ]; then echo "OK: all targets passed"; exit 0; fi
echo "FAILED: see the output above"
exit 1
