#!/usr/bin/env bash
# Cross-build mproc (library, unit/integration tests, examples, doctests) for 64-bit and
# 32-bit ARM Linux and run the tests under qemu-user.  Debian 12 x86_64 host.
#
#   bash scripts/cross-test.sh            # from anywhere
#
# Installs what is missing (idempotent): qemu-user, the cross gcc + libc for each target, and
# the target's Rust std -- from rustup (same compiler as native builds) or, failing that, from
# Debian's multiarch libstd-rust-web-dev matching rustc-web.
#
# Exit status:
#   0  every target built and every test passed
#   0  and exactly one line "SKIPPED: <reason>" when the package archive cannot be reached
#   1  any build or test failure, a timeout, or a target whose Rust std cannot be obtained
#
# Environment knobs:
#   CRATE_DIR     crate to test (default: this script's ../)
#   TARGETS       rust triples (default: aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
#   STD_SOURCE    auto (default: rustup, then debian) | rustup | debian
#   TEST_ARGS     args for the test binaries after `--` (default: --test-threads=1: one fork at a time under the emulator)
#   CARGO_ARGS    extra args for `cargo test` (e.g. "--features foo")
#   TEST_TIMEOUT  seconds per target (default 1200)
#
# Pitfalls:
# - qemu runner: with multiarch libc6:<arch> installed use NO -L; `-L /usr/<gnu>` would pair the
#   cross package's ld.so with the multiarch libc.so.6 and a forked child spins forever in glibc.
#   Without multiarch libc6 (the rustup case) `-L /usr/<gnu>` is required.
# - Debian's /usr/bin/cargo picks rustup's rustc when rustup's proxies come first in PATH, so it
#   gets RUSTC/RUSTDOC explicitly (cargo >= 1.89 cross-compiles doctests with RUSTDOC).
# - Each toolchain source gets its own target dir (target/cross-rustup, target/cross-debian), so
#   native builds in target/ are never invalidated or locked by a cross run.
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRATE_DIR=${CRATE_DIR:-$(dirname "$SCRIPT_DIR")}
TARGETS=${TARGETS:-"aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"}
STD_SOURCE=${STD_SOURCE:-auto}
TEST_ARGS=${TEST_ARGS:---test-threads=1}
CARGO_ARGS=${CARGO_ARGS:-}
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}

export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-q -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

log()  { printf '==> [%4ss] %s\n' "$SECONDS" "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
skip() { echo "SKIPPED: $*"; exit 0; }

cd "$CRATE_DIR" || die "cannot cd to CRATE_DIR=$CRATE_DIR"
[ -f Cargo.toml ] || die "$CRATE_DIR has no Cargo.toml"
command -v apt-get >/dev/null || die "this script needs Debian/apt"
log "crate: $(pwd); targets: $TARGETS"

# rust triple -> "debian-arch gnu-triple qemu-binary"
target_info() {
  case "$1" in
    aarch64-unknown-linux-gnu)     echo "arm64 aarch64-linux-gnu qemu-aarch64" ;;
    armv7-unknown-linux-gnueabihf) echo "armhf arm-linux-gnueabihf qemu-arm" ;;
    arm-unknown-linux-gnueabihf)   echo "armhf arm-linux-gnueabihf qemu-arm" ;;
    i686-unknown-linux-gnu)        echo "i386 i686-linux-gnu qemu-i386" ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------- apt helpers
is_installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
candidate()    { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}'; }

NET_ERR='Could not resolve|Temporary failure|Failed to fetch|Unable to fetch|Unable to connect|Connection (failed|timed out|refused)|No route to host|Network is unreachable'
UPDATED=0
apt_update() {
  local out rc
  out=$($SUDO apt-get update "${APT_OPTS[@]}" 2>&1); rc=$?
  UPDATED=1
  # One stale index (e.g. a mirror serving an outdated per-arch Packages.xz) is not fatal as long
  # as the archive answered at all; only "nothing reachable" is a skip.
  if ! grep -qE '^(Hit|Get):' <<<"$out"; then
    grep -qE "$NET_ERR" <<<"$out" &&
      skip "Debian package archive unreachable (apt-get update: $(grep -m1 -E "$NET_ERR" <<<"$out" | sed 's/^[[:space:]]*//'))"
    printf '%s\n' "$out" >&2; die "apt-get update failed"
  fi
  [ $rc = 0 ] || log "apt-get update reported errors (continuing): $(grep -m1 '^[EW]:' <<<"$out")"
}
apt_install() {  # apt_install pkg...   installs only what is missing
  local missing=() p out
  for p in "$@"; do is_installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  [ $UPDATED = 1 ] || apt_update
  log "apt-get install ${missing[*]}"
  out=$($SUDO apt-get -y --no-install-recommends "${APT_OPTS[@]}" install "${missing[@]}" 2>&1) && return 0
  printf '%s\n' "$out" | tail -n 20 >&2
  grep -qE "$NET_ERR" <<<"$out" && skip "Debian package archive unreachable while installing ${missing[*]}"
  return 1
}

# ---------------------------------------------------------------- Rust std providers
RUSTUP=$(command -v rustup || { [ -x "$HOME/.cargo/bin/rustup" ] && echo "$HOME/.cargo/bin/rustup"; } || true)

rustup_std() {  # rust-triple; adds the target to the toolchain active in the crate dir
  [ -n "$RUSTUP" ] || return 1
  "$RUSTUP" target list --installed 2>/dev/null | grep -qx "$1" && return 0
  log "rustup target add $1"
  "$RUSTUP" target add "$1" >&2
}

DEB_RUSTC_VER=
debian_std() {  # debian-arch; multiarch libstd-rust-web-dev:<arch> matching rustc-web
  local arch=$1 pkg="libstd-rust-web-dev:$1" added=0 cand
  apt_install rustc-web cargo-web || return 1
  DEB_RUSTC_VER=$(dpkg-query -W -f='${Version}' rustc-web)
  is_installed "$pkg" && [ "$(dpkg-query -W -f='${Version}' "$pkg")" = "$DEB_RUSTC_VER" ] && return 0
  if ! { [ "$arch" = "$(dpkg --print-architecture)" ] ||
         dpkg --print-foreign-architectures | grep -qx "$arch"; }; then
    log "dpkg --add-architecture $arch"; $SUDO dpkg --add-architecture "$arch"; added=1; apt_update
  elif [ $UPDATED = 0 ]; then apt_update; fi
  cand=$(candidate "$pkg")
  if [ "$cand" = "$DEB_RUSTC_VER" ] && apt_install "$pkg"; then return 0; fi
  log "Debian $pkg candidate '${cand:-none}' != rustc-web $DEB_RUSTC_VER (stale or missing $arch index?)"
  # Do not leave behind a foreign arch that makes every later `apt-get update` fail.
  if [ $added = 1 ] && [ -z "$(dpkg-query -W -f='${binary:Package}\n' "*:$arch" 2>/dev/null)" ]; then
    $SUDO dpkg --remove-architecture "$arch" && log "removed foreign arch $arch again"
  fi
  return 1
}

# ---------------------------------------------------------------- per target
apt_install qemu-user || die "cannot install qemu-user"
log "$(qemu-aarch64 --version | head -n1)"

SUMMARY=(); FAILED=0
result() {  # PASS|FAIL triple detail
  SUMMARY+=("$(printf '%-4s %-32s %s' "$1" "$2" "$3")")
  [ "$1" = PASS ] || FAILED=1
}

for T in $TARGETS; do
  T0=$SECONDS
  if ! read -r ARCH GNU QEMU < <(target_info "$T"); then result FAIL "$T" "unknown target"; continue; fi
  log "=== $T (arch $ARCH, linker $GNU-gcc, runner $QEMU)"
  if ! apt_install "gcc-$GNU" "libc6-dev-$ARCH-cross"; then result FAIL "$T" "cannot install cross gcc"; continue; fi

  SRC=
  case $STD_SOURCE in
    rustup) rustup_std "$T" && SRC=rustup ;;
    debian) debian_std "$ARCH" && SRC=debian ;;
    auto)   if rustup_std "$T"; then SRC=rustup; elif debian_std "$ARCH"; then SRC=debian; fi ;;
    *)      die "STD_SOURCE must be auto, rustup or debian" ;;
  esac
  if [ -z "$SRC" ]; then result FAIL "$T" "no Rust std for this target (STD_SOURCE=$STD_SOURCE: rustup and/or Debian failed)"; continue; fi

  # See the -L pitfall in the header.
  RUNNER=$QEMU; is_installed "libc6:$ARCH" || RUNNER="$QEMU -L /usr/$GNU"
  TU=$(tr 'a-z-' 'A-Z_' <<<"$T")
  ENVV=("CARGO_TARGET_${TU}_LINKER=$GNU-gcc" "CARGO_TARGET_${TU}_RUNNER=$RUNNER" MPROC_UNDER_QEMU=1)
  if [ $SRC = debian ]; then
    RUSTC_BIN=/usr/bin/rustc
    CARGO=(env "${ENVV[@]}" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc /usr/bin/cargo)
  else
    RUSTC_BIN=$(dirname "$RUSTUP")/rustc
    CARGO=(env -u RUSTC -u RUSTDOC "${ENVV[@]}" "$(dirname "$RUSTUP")/cargo")
  fi
  VER=$("$RUSTC_BIN" --version | awk '{print $2}')
  TDIR=target/cross-$SRC
  LOG=$TDIR/$T.log; mkdir -p "$TDIR"
  log "rustc $VER ($SRC std), runner '$RUNNER', target dir $TDIR, timeout ${TEST_TIMEOUT}s"
  # shellcheck disable=SC2086  # CARGO_ARGS / TEST_ARGS are word lists
  timeout -k 30 "$TEST_TIMEOUT" "${CARGO[@]}" test --target "$T" --target-dir "$TDIR" --no-fail-fast \
    $CARGO_ARGS -- $TEST_ARGS 2>&1 | tee "$LOG"
  rc=${PIPESTATUS[0]}
  # A forked child has been seen to hang (rarely) under qemu-user; the watchdog
  # reports it. Only that case gets one more run, and it is reported; any
  # assertion failure fails at once.
  if [ "$rc" != 0 ] && grep -q 'isolated test body hung' "$LOG" \
     && ! grep -qE '^error: could not compile|isolated test body (panicked|exited|was killed|left)' "$LOG"; then
    hung=$(grep -E '^test .* \.\.\. FAILED$' "$LOG" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | tr "\n" " ")
    echo "RETRY $T: a test hung under qemu-user (watchdog): $hung; running the target's tests once more"
    mv "$LOG" "$LOG.hung"
    # shellcheck disable=SC2086
    timeout -k 30 "$TEST_TIMEOUT" "${CARGO[@]}" test --target "$T" --target-dir "$TDIR" --no-fail-fast \
      $CARGO_ARGS -- $TEST_ARGS 2>&1 | tee "$LOG"
    rc=${PIPESTATUS[0]}
  fi
  DT="$((SECONDS - T0))s, rustc $VER from $SRC"
  if [ "$rc" = 0 ]; then
    result PASS "$T" "($DT)"
  else
    why="cargo test exited $rc"; [ "$rc" = 124 ] && why="timed out after ${TEST_TIMEOUT}s"
    grep -q '^error: could not compile' "$LOG" && why="build failed (rc $rc)"
    fails=$(grep -E '^test .* \.\.\. FAILED$' "$LOG" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | sort -u | tr "\n" " " | sed "s/ $//")
    result FAIL "$T" "$why ($DT)${fails:+; failed tests: $fails}"
  fi
done

echo
echo "==== cross-test summary ($(pwd)) ===="
printf '%s\n' "${SUMMARY[@]}"
if [ $FAILED = 0 ]; then echo "OK: all targets passed"; exit 0; fi
echo "FAILED: see the output above (logs in target/cross-*/<triple>.log)"
exit 1
