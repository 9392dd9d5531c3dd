#!/usr/bin/env python3
"""Python side of `cargo bench -p mproc-bench --bench pool_map`
(bench/benches/pool_map.rs).

Python's multiprocessing.Pool.map of N paths ("/srv/data/file-00042.txt")
to their file stems ("file-00042"), with the fork start method and the
default chunksize. Standard library only. The bench starts this script once
and talks to it over stdin/stdout, one command per line, one answer per
line, as scripts/bench_pool_peer.py does:

    version        -> "<implementation> <version>"
    pool K         -> "ok": makes ctx.Pool(K) (kept; never timed)
    map N          -> "<ns> <count> <chars>": builds the N paths (untimed),
                      then times results = pool.map(stem, paths); checks
                      every result after the clock stops and answers the
                      count and the total length of the results
    quit (or EOF)  -> terminates the pool and exits

with ctx = multiprocessing.get_context("fork") and
stem(p) = os.path.splitext(os.path.basename(p))[0]. An answer starting
with "error" reports a failure; the bench then drops the Python contender.
The command loop and die_with_parent (every worker dies with the bench)
come from scripts/bench_peer_common.py.
"""

import os
import sys
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")
)
from bench_peer_common import CTX, die_with_parent, serve, version  # noqa: E402

POOL = []


def stem(path):
    """The task: a path's file name without its extension."""
    return os.path.splitext(os.path.basename(path))[0]


def paths(n):
    return ["/srv/data/file-%05d.txt" % i for i in range(n)]


def bench_map(n):
    items = paths(n)
    start = time.perf_counter_ns()
    results = POOL[0].map(stem, items)
    elapsed = time.perf_counter_ns() - start
    if results != ["file-%05d" % i for i in range(n)]:
        return "error: map: wrong results"
    return f"{elapsed} {len(results)} {sum(len(r) for r in results)}"


def close_all():
    for pool in POOL:
        pool.terminate()
        pool.join()
    POOL.clear()


def run(words):
    cmd = words[0]
    if cmd == "version":
        return version()
    if cmd == "pool":
        close_all()
        POOL.append(CTX.Pool(int(words[1]), initializer=die_with_parent))
        return "ok"
    if cmd == "map":
        if not POOL:
            return "error: map: no pool"
        return bench_map(int(words[1]))
    return f"error: unknown command {cmd!r}"


def main():
    serve(run, close_all)


if __name__ == "__main__":
    main()
