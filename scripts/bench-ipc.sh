#!/usr/bin/env bash
# Runs the message-passing benchmark in release mode, printing Markdown
# tables: bench/benches/ipc/ in the mproc-bench workspace package (kept
# apart so that its peers stay out of mproc's dependency graph). The round
# trip of a 64-byte message to a forked child and back, and one-way
# throughput, for mproc's Pipe, MessageQueue and Queue against raw loops of
# the same system calls (pipe pair, SOCK_SEQPACKET pair, POSIX mq pair), a
# shared-memory spin floor, iceoryx2 (pub-sub, polling), ipc-channel and
# Python's multiprocessing Pipe and Queue (bench/bench_ipc_peer.py). Then
# bench/benches/values.rs (a 64-byte struct with a String, one way, through
# ValueQueue, a Pipe's send_value, ipc-channel's serde channel and Python's
# Queue of the same dict), bench/benches/pool_map.rs (Pool.map of
# 100,000 paths to Strings against Python's Pool.map and rayon) and
# bench/benches/server.rs (the pre-fork echo server, sync and async
# workers, against the seeds' Python Pool(4) and gevent servers; gevent
# from PyPI, reported n/a without it).
#
#   scripts/bench-ipc.sh                        full run (about a minute after the build)
#   MPROC_BENCH_QUICK=1 scripts/bench-ipc.sh    smoke run with small counts
#   MPROC_BENCH_PYTHON=python3.12 scripts/bench-ipc.sh   another interpreter
#   MPROC_BENCH_IPC_PIN=0,1 scripts/bench-ipc.sh
#                      the bench and the Python peer on CPU 0, every forked
#                      child on CPU 1 (default: unpinned, both sides wherever
#                      the scheduler puts them)
#   MPROC_BENCH_IPC_PIN=1 scripts/bench-ipc.sh
#                      every process on CPU 1, the pure spinners (raw spin,
#                      iceoryx2 polling) left out: the steadiest figures for
#                      the system-call contenders
#
# The first build compiles iceoryx2 and ipc-channel (about a minute more,
# cold, on 2 CPUs; no system package needed). Extra arguments go to
# `cargo bench`. The environment is passed through unchanged. Python
# (standard library only) is optional: its cells read "n/a" without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo bench -p mproc-bench --bench ipc "$@"
cargo bench -p mproc-bench --bench values "$@"
cargo bench -p mproc-bench --bench pool_map "$@"
exec cargo bench -p mproc-bench --bench server "$@"
