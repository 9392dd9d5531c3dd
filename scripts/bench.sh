#!/usr/bin/env bash
# Runs the process benchmarks (benches/process.rs) in release mode and prints
# a Markdown table: mproc against raw libc and Python's multiprocessing.
#
#   scripts/bench.sh                       full run (a few seconds after the build)
#   MPROC_BENCH_QUICK=1 scripts/bench.sh   smoke run with small counts
#   MPROC_BENCH_PYTHON=python3.12 scripts/bench.sh   another interpreter
#   MPROC_BENCH_CPU=none scripts/bench.sh  unpinned (default: all processes
#                                          pinned to the CPU the bench starts on)
#
# Extra arguments go to `cargo bench` (e.g. --features …). The environment is
# passed through unchanged. Python (standard library only) is optional: its
# cells read "n/a" without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec cargo bench --bench process "$@"
