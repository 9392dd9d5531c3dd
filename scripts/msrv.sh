#!/usr/bin/env bash
# Checks mproc's declared minimum Rust version (`rust-version` in Cargo.toml) with the one
# toolchain this machine has (no older Rust can be installed here: Debian 12 ships rustc 1.63
# and rustc-web 1.85/1.96, PyPI only a bundled 1.97, and rustup downloads are not reachable).
#
#   bash scripts/msrv.sh            # from anywhere; CI runs it (.ci/run)
#
# What it checks, in order; the first failure stops it with exit status 1:
#   1. README.md names the same version ("Rust <msrv>").
#   2. Dependencies: every package in mproc's graph (with the optional serde feature) as Cargo.lock resolves it for this host
#      (normal and build dependencies, and mproc's own dev-dependencies) declares a rust-version no newer than
#      mproc's (a package that declares none passes, as cargo treats it). Then, as information
#      only (it never fails): what a dependent resolving afresh today gets, newest versions
#      first, and which of them declare a newer Rust (cargo's MSRV-aware resolver, the default
#      for edition 2024, would pick older versions for such a dependent).
#   3. Standard-library items: clippy's `incompatible_msrv` (it reads rust-version) denied over
#      every target of mproc and mproc-derive -- library, build script, tests (clippy.toml turns on
#      check-incompatible-msrv-in-tests), examples, benches. First a canary: a scratch crate
#      with the same rust-version uses an item stabilized after it, in a function and in a
#      #[test], and the lint must fire on both, or this script fails (the lint would be
#      silently off).
#   4. Language features: a short list of patterns for syntax stabilized after the MSRV (let
#      chains 1.88, cfg(true)/cfg(false) 1.88, `_` as an inferred const argument and
#      #[repr(u128)] 1.89, if-let guards 1.95), applied to the rules newer than the MSRV.
#      This is a grep, not a compiler: other language changes are NOT checked here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { printf 'msrv: FAILED: %s\n' "$*" >&2; exit 1; }
say() { printf 'msrv: %s\n' "$*"; }
# newer A B: true when version A is newer than version B.
newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }

msrv=$(sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$msrv" ] || fail "no rust-version in Cargo.toml"
edition=$(sed -n 's/^edition = "\([0-9]*\)"$/\1/p' Cargo.toml | head -n 1)
toolchain=$(rustc --version | awk '{print $2}')
say "declared rust-version $msrv (edition $edition); checking with rustc $toolchain"

# 1. README
grep -q "Rust $msrv" README.md || fail "README.md does not name \"Rust $msrv\" (the declared rust-version)"
say "1. README.md names Rust $msrv"

# 2. Dependencies, as Cargo.lock resolves them.
host=$(rustc -vV | sed -n 's/^host: //p')
rows=$(cargo metadata --format-version 1 --locked --all-features --filter-platform "$host" | python3 -c '
import json, sys
def v(s):
    return (tuple(int(x) for x in s.split(".")) + (0, 0))[:3]
msrv = v(sys.argv[1])
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = next(p["id"] for p in m["packages"] if p["name"] == "mproc" and p["source"] is None)
seen, stack = set(), [(root, True)]
while stack:
    pid, is_root = stack.pop()
    if pid in seen:
        continue
    seen.add(pid)
    for dep in nodes[pid]["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        if None in kinds or "build" in kinds or (is_root and "dev" in kinds):
            stack.append((dep["pkg"], False))
for pid in sorted(seen - {root}, key=lambda i: pkgs[i]["name"]):
    p = pkgs[pid]
    rv = p.get("rust_version")
    verdict = "NEWER" if rv and v(rv) > msrv else "ok"
    print("%s %s %s rust-version %s" % (verdict, p["name"], p["version"], rv or "(none)"))
' "$msrv")
printf '%s\n' "$rows" | sed 's/^/msrv:      /'
if printf '%s\n' "$rows" | grep -q '^NEWER'; then
  fail "dependencies in Cargo.lock declare a Rust newer than $msrv (NEWER above)"
fi
say "2. every dependency in Cargo.lock declares rust-version $msrv or older (or none)"

# 2b. Information: what a fresh resolution gives a dependent today.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/fresh/src"
cat >"$scratch/fresh/Cargo.toml" <<EOF
[package]
name = "msrv-fresh"
version = "0.0.0"
edition = "2021"

[dependencies]
mproc = { path = "$PWD" }

[workspace]
EOF
: >"$scratch/fresh/src/lib.rs"
if (cd "$scratch/fresh" && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=allow \
    cargo generate-lockfile --quiet 2>/dev/null &&
    cargo metadata --format-version 1 --locked --filter-platform "$host" 2>/dev/null) >"$scratch/fresh.json"; then
  newest=$(python3 -c '
import json, sys
def v(s):
    return (tuple(int(x) for x in s.split(".")) + (0, 0))[:3]
m = json.load(open(sys.argv[2]))
for p in sorted(m["packages"], key=lambda p: p["name"]):
    rv = p.get("rust_version")
    if p["source"] and rv and v(rv) > v(sys.argv[1]):
        print("%s %s (rust-version %s)" % (p["name"], p["version"], rv))
' "$msrv" "$scratch/fresh.json")
  if [ -z "$newest" ]; then
    say "   (info) a fresh resolution today, newest versions: none declares a Rust newer than $msrv"
  else
    say "   (info) a fresh resolution today, newest versions, has packages declaring a newer Rust:"
    printf '%s\n' "$newest" | sed 's/^/msrv:      /'
    say "   (info) with Rust $msrv, cargo's MSRV-aware resolver (edition 2024's default) picks older versions where they exist"
  fi
else
  say "   (info) no fresh resolution (the registry could not be reached): skipped"
fi

# 3. Standard-library items: clippy's incompatible_msrv. First the canary.
canary_since=""
canary_expr=""
while read -r since expr; do
  if newer "$since" "$msrv" && ! newer "$since" "$toolchain"; then
    canary_since=$since
    canary_expr=$expr
    break
  fi
done <<'EOF'
1.89 Ok::<Result<u8,()>,()>(Ok(1)).flatten().is_ok()
1.90 1u32.checked_sub_signed(1).is_some()
1.91 1u32.strict_add(1)==2
1.93 std::time::Duration::from_nanos_u128(1).as_nanos()==1
1.94 [1u8,2,3].array_windows::<2>().count()==2
EOF
if [ -z "$canary_since" ]; then
  say "3. (no canary: no listed std item is newer than $msrv and stable in rustc $toolchain)"
else
  mkdir -p "$scratch/canary/src"
  cp clippy.toml "$scratch/canary/"
  cat >"$scratch/canary/Cargo.toml" <<EOF
[package]
name = "msrv-canary"
version = "0.0.0"
edition = "$edition"
rust-version = "$msrv"

[workspace]
EOF
  cat >"$scratch/canary/src/lib.rs" <<EOF
//! Uses an item stabilized in Rust $canary_since, after rust-version $msrv.
/// In library code.
pub fn newer() -> bool {
    $canary_expr
}
#[cfg(test)]
mod tests {
    #[test]
    fn newer_in_a_test() {
        assert!($canary_expr);
    }
}
EOF
  if (cd "$scratch/canary" && CARGO_TARGET_DIR="$scratch/canary/target" \
      cargo clippy --quiet --all-targets --message-format short -- -D clippy::incompatible_msrv) \
      >"$scratch/canary.out" 2>&1; then
    fail "canary: clippy's incompatible_msrv did not fire on an item stable since $canary_since (rust-version $msrv)"
  fi
  for line in $(grep -nF "$canary_expr" "$scratch/canary/src/lib.rs" | cut -d: -f1); do
    if ! grep -q "^src/lib.rs:$line:.*stable since \`$canary_since" "$scratch/canary.out"; then
      cat "$scratch/canary.out" >&2
      fail "canary: incompatible_msrv did not fire on line $line of the canary (the function, then the #[test])"
    fi
  done
  say "3. canary: incompatible_msrv fires on an item stable since $canary_since, in a function and in a #[test]"
fi
cargo clippy --quiet --all-targets -p mproc -p mproc-derive --all-features -- -D clippy::incompatible_msrv ||
  fail "clippy's incompatible_msrv: a standard-library item newer than $msrv is used (above)"
say "3. clippy --all-targets (mproc and mproc-derive): no standard-library item newer than $msrv"

# 4. Language features: grep for syntax stabilized after the MSRV.
files=$(git ls-files '*.rs' | grep -v '^bench/' || true)
hits=0
while IFS='|' read -r since what regex; do
  newer "$since" "$msrv" || continue
  # shellcheck disable=SC2086
  found=$(grep -nP -- "$regex" $files || true)
  if [ -n "$found" ]; then
    printf 'msrv: %s (stable since %s) in:\n%s\n' "$what" "$since" "$found" >&2
    hits=$((hits + 1))
  fi
done <<'EOF'
1.88|let chains (`if let ... && ...`)|^(?!\s*//).*(&&\s*let\s|\b(if|while)\s+let\s(?:[^(){};&]|&(?!&)|(\((?:[^()]++|(?-1))*\)))*&&)
1.88|cfg(true) / cfg(false)|\bcfg(_attr)?\(\s*(true|false)\b
1.89|`_` as an inferred const argument (`[x; _]`)|^(?!\s*//).*;\s*_\s*\]
1.89|#[repr(u128)] / #[repr(i128)]|repr\(\s*[ui]128\s*\)
1.95|if-let guards on match arms|^(?!\s*//)(?:(?!=>).)*?(?<!\belse)(?<=[\w)\]}])\s+if\s+let\s(?:(?!=>).)*=>
EOF
[ "$hits" = 0 ] || fail "syntax newer than rust-version $msrv (above)"
say "4. no listed syntax newer than $msrv (a grep for a few features; other language changes are not checked: no Rust $msrv compiler is reachable here)"
say "all checks passed for rust-version $msrv"
