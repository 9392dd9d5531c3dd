#!/usr/bin/env bash
# Runs the benchmarks in release mode, one after the other, each printing a
# Markdown table: benches/process.rs (spawn+join, signal round trip: mproc
# against raw libc and Python's multiprocessing), benches/pool/ (apply,
# apply_async, map, oversubscription, memory: mproc's Pool against Python's
# Pool), benches/manager.rs (dict round trips and locked decrements through
# mproc's Manager against Python's Manager, and against shared memory),
# benches/daemon/ (the example daemon's release binary: USR1-to-report
# latency, jobs/s through its message queue, idle memory, binary size,
# stripped and static), benches/recovery/ (Semaphore acquire + drop
# against the algorithm before unit recovery and a bare atomic; Lock and
# RLock take-over latency after a SIGKILL of the holder; a Condition
# notification when a waiter was killed), benches/queue.rs (feature serde:
# RecordQueue throughput for 16 B to 4 KiB records, the serde ValueQueue's
# round trip against the fixed Queue's) and benches/sync/ (locked
# counter, contended lock, Event ping-pong: mproc against a bare atomic, a
# raw futex, a raw spin and Python's multiprocessing).
#
#   scripts/bench.sh                       full run (each bench well under a minute after the build)
#   MPROC_BENCH_QUICK=1 scripts/bench.sh   smoke run with small counts
#   MPROC_BENCH_PYTHON=python3.12 scripts/bench.sh   another interpreter
#   MPROC_BENCH_CPU=none scripts/bench.sh  unpinned (default: all processes
#                                          pinned to the CPU the bench starts on;
#                                          sync's contended lock and unpinned
#                                          ping-pong use every CPU regardless,
#                                          and its pinned ping-pongs are left out)
#
# Extra arguments go to every `cargo bench` call (e.g. --features …). The
# environment is passed through unchanged. Python (standard library only) is
# optional: its cells read "n/a" without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench --bench process "$@"
cargo bench --bench pool "$@"
cargo bench --bench manager --features serde "$@"
cargo bench --bench daemon "$@"
cargo bench --bench recovery "$@"
cargo bench --bench queue --features serde "$@"
exec cargo bench --bench sync "$@"
