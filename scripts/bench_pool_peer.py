#!/usr/bin/env python3
"""Python side of `cargo bench --bench pool` (benches/pool.rs).

Runs the Python contenders of the pool benchmark: multiprocessing.Pool with
the fork start method, the worker count the bench names, and a trivial task
(x + 1). Standard library only. The bench starts this script once and talks
to it over stdin/stdout, one command per line, one answer per line, as
scripts/bench_peer.py does for the other benchmarks:

    version          -> "<implementation> <version>"
    pool K           -> "ok": makes ctx.Pool(K) if this process has none of
                        K workers yet (kept for later commands; making it is
                        never timed)
    apply K N        -> "<ns> <count> <sum>": N round trips
                        pool.apply(inc, (i,)) for i in range(N), one after
                        the other; ns for all of them, the number of
                        results and their sum
    async K N        -> the same for rs = [pool.apply_async(inc, (i,)) for
                        i in range(N)], then r.get() for each r in order:
                        Python's natural shape (everything submitted, then
                        everything collected)
    map K N          -> the same for results = pool.map(inc, range(N))
                        with Python's default chunksize
    pids K           -> "<parent pid> <worker pid> ...": this process and
                        the pool's workers, for the memory row (the bench
                        reads /proc/<pid>/smaps_rollup itself). The worker
                        pids come from pool._pool, a PRIVATE attribute of
                        multiprocessing.pool.Pool (the list of its worker
                        Process objects; stable since Python 2.6, but not a
                        documented interface): Pool has no public way to
                        name its workers.
    close K          -> "ok": terminates and joins the pool of K workers
    quit (or EOF)    -> terminates every pool and exits

with ctx = multiprocessing.get_context("fork") and inc(x) = x + 1. An answer
starting with "error" reports a failure; the bench then drops the Python
contenders. Results are counted and summed after the clock stops, and
checked here against range(1, N + 1) item by item for `map`; the bench
checks the count and the sum again.

Every pool worker runs one initializer, die_with_parent (prctl
PR_SET_PDEATHSIG through ctypes, loaded in this process before any fork so
that workers share it): a bench killed by its watchdog leaves no orphaned
worker behind (Python's workers would otherwise wait on their task pipe
forever). This process does the same for itself. The command loop and
die_with_parent come from scripts/bench_peer_common.py, next to this file.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peer_common import CTX, die_with_parent, serve, version  # noqa: E402

POOLS = {}


def inc(x):
    """The task: trivial, so that the pool's own cost is what is timed."""
    return x + 1


def get_pool(k):
    pool = POOLS.get(k)
    if pool is None:
        pool = CTX.Pool(k, initializer=die_with_parent)
        POOLS[k] = pool
    return pool


def bench_apply(pool, n):
    apply = pool.apply
    results = []
    append = results.append
    start = time.perf_counter_ns()
    for i in range(n):
        append(apply(inc, (i,)))
    elapsed = time.perf_counter_ns() - start
    return f"{elapsed} {len(results)} {sum(results)}"


def bench_async(pool, n):
    apply_async = pool.apply_async
    start = time.perf_counter_ns()
    pending = [apply_async(inc, (i,)) for i in range(n)]
    results = [r.get() for r in pending]
    elapsed = time.perf_counter_ns() - start
    return f"{elapsed} {len(results)} {sum(results)}"


def bench_map(pool, n):
    start = time.perf_counter_ns()
    results = pool.map(inc, range(n))
    elapsed = time.perf_counter_ns() - start
    if results != list(range(1, n + 1)):
        return "error: map: wrong results"
    return f"{elapsed} {len(results)} {sum(results)}"


def pids(pool):
    # pool._pool: private (see the module docstring).
    return " ".join(str(p) for p in [os.getpid()] + [w.pid for w in pool._pool])


def close(k):
    pool = POOLS.pop(k, None)
    if pool is not None:
        pool.terminate()
        pool.join()
    return "ok"


def run(words):
    cmd = words[0]
    if cmd == "version":
        return version()
    if cmd == "close":
        return close(int(words[1]))
    if cmd not in ("pool", "apply", "async", "map", "pids"):
        return f"error: unknown command {cmd!r}"
    pool = get_pool(int(words[1]))
    if cmd == "pool":
        return "ok"
    if cmd == "pids":
        return pids(pool)
    n = int(words[2])
    return {"apply": bench_apply, "async": bench_async, "map": bench_map}[cmd](pool, n)


def close_all():
    for k in list(POOLS):
        close(k)


def main():
    serve(run, close_all)


if __name__ == "__main__":
    main()
