#!/usr/bin/env python3
"""Python side of `cargo bench --bench manager` (benches/manager.rs).

Runs the Python contenders of the manager benchmark: one
multiprocessing.managers.SyncManager with the fork start method (what
get_context("fork").Manager() makes), a dict proxy d = m.dict() and a lock
proxy lock = m.Lock() on it. Standard library only. The bench starts this
script once and talks to it over stdin/stdout, one command per line, one
answer per line, as scripts/bench_peer.py does for the other benchmarks:

    version          -> "<implementation> <version>"
    manager          -> "ok": starts the manager and makes d and lock, once
                        (kept for later commands; never timed)
    getset N         -> "<ns> <count>": d['count'] = 0 (untimed), then N
                        times d['count'] = d['count'] + 1 (a get and a set:
                        2N round trips to the server) from this process;
                        ns for all of them and the final d['count'] (N)
    locked P M       -> "<ns> <count>": d['count'] = P * M (untimed); P
                        processes (forked first; each makes its connection
                        to the manager with one untimed d['count'] and one
                        lock.acquire() / lock.release(); then they are
                        released together by an Event) each do M times
                        `with lock: d['count'] -= 1` (acquire, get, set,
                        release: 4 round trips); ns from the release to
                        the last process done (each stamps its end in a
                        RawArray), and the final d['count'] (0)
    quit (or EOF)    -> shuts the manager down and exits

with ctx = multiprocessing.get_context("fork"). An answer starting with
"error" reports a failure; the bench then drops the Python contenders.

The manager's server process, every child and this process itself call
die_with_parent (prctl PR_SET_PDEATHSIG through ctypes): a bench killed by
its watchdog leaves nothing behind. Every answer is flushed before the next
fork, so a forked child never holds (and flushes again) a half-written
answer. The command loop, die_with_parent and the released children come
from scripts/bench_peer_common.py, next to this file.
"""

import multiprocessing.managers
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peer_common import CTX, die_with_parent, released_run, serve, version  # noqa: E402

KEY = "count"
STATE = {}


def start_manager():
    if "manager" not in STATE:
        m = multiprocessing.managers.SyncManager(ctx=CTX)
        m.start(initializer=die_with_parent)
        STATE["manager"] = m
        STATE["d"] = m.dict()
        STATE["lock"] = m.Lock()
    return STATE["manager"], STATE["d"], STATE["lock"]


def bench_getset(n):
    _, d, _ = start_manager()
    d[KEY] = 0
    start = time.perf_counter_ns()
    for _ in range(n):
        d[KEY] = d[KEY] + 1
    elapsed = time.perf_counter_ns() - start
    return f"{elapsed} {d[KEY]}"


def decrement(d, lock, m, start):
    """A locked-decrement child: M decrements once released."""
    # Connect now (a proxy reconnects after a fork on its first call).
    d.get(KEY)
    lock.acquire()
    lock.release()
    start()
    for _ in range(m):
        with lock:
            d[KEY] -= 1


def bench_locked(procs, m):
    _, d, lock = start_manager()
    d[KEY] = procs * m
    return released_run("locked", procs, decrement, (d, lock, m), lambda: d[KEY])


def run(words):
    cmd = words[0]
    if cmd == "version":
        return version()
    if cmd == "manager":
        start_manager()
        return "ok"
    if cmd == "getset":
        return bench_getset(int(words[1]))
    if cmd == "locked":
        return bench_locked(int(words[1]), int(words[2]))
    return f"error: unknown command {cmd!r}"


def shutdown():
    m = STATE.pop("manager", None)
    if m is not None:
        STATE.clear()
        m.shutdown()


def main():
    serve(run, shutdown)


if __name__ == "__main__":
    main()
