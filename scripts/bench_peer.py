#!/usr/bin/env python3
"""Python side of `cargo bench --bench process` (benches/process.rs) and
`cargo bench --bench sync` (benches/sync.rs).

Runs the Python contenders of those benchmarks and reports their
timings. Standard library only. The bench starts this script once and talks
to it over stdin/stdout, one command per line, one answer per line:

    version          -> "<implementation> <version>"
    spawn N          -> total nanoseconds for N ops of
                        ctx.Process(target=f).start(); p.join()
                        with ctx = multiprocessing.get_context("fork")
    signal N         -> total nanoseconds for N round trips: os.kill(child,
                        SIGUSR1), then signal.sigwait({SIGUSR2}); the child
                        (forked once, on the first "signal") answers each
                        SIGUSR1 it takes with signal.sigwait by os.kill(parent,
                        SIGUSR2). Both signals are blocked with
                        signal.pthread_sigmask before the fork.
    counter P M      -> "<ns> <count>": P processes (forked first, then
                        released together by an Event) each do M times
                        `with v.get_lock(): v.value += 1` on one
                        ctx.Value('Q', 0); ns from the release to the last
                        process done (each stamps its end in a RawArray),
                        and the final v.value
    pingpong N [CPUS]
                     -> total nanoseconds for N round trips between this
                        process (A: ping.set(); pong.wait(); pong.clear())
                        and a child forked for the command (B: ping.wait();
                        ping.clear(); pong.set()), with two ctx.Event()s;
                        one untimed round trip first. With CPUS ("1"), B
                        first moves itself there (as "affinity" does)
    affinity CPUS    -> "ok": os.sched_setaffinity(0, CPUS), CPUS as "0,1";
                        children forked later inherit it
    quit (or EOF)    -> stops the signal child and exits

An answer starting with "error" reports a failure.

Every answer is flushed before the next fork, so a forked child never holds
(and flushes again) a half-written answer. The command loop,
die_with_parent and the released children come from
scripts/bench_peer_common.py, next to this file.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_peer_common import CTX, die_with_parent, released_run, serve, version  # noqa: E402

USR1 = {signal.SIGUSR1}
USR2 = {signal.SIGUSR2}


def nothing():
    """The spawn benchmark's target: returns at once."""


def echo(parent):
    """The signal benchmark's child: answers each SIGUSR1 with a SIGUSR2."""
    die_with_parent()
    if os.getppid() != parent:
        return
    while True:
        signal.sigwait(USR1)
        os.kill(parent, signal.SIGUSR2)


def bench_spawn(n):
    start = time.perf_counter_ns()
    for _ in range(n):
        p = CTX.Process(target=nothing)
        p.start()
        p.join()
    return time.perf_counter_ns() - start


def count(v, m, start):
    """A counter benchmark child: M locked increments once released."""
    start()
    for _ in range(m):
        with v.get_lock():
            v.value += 1


def bench_counter(procs, m):
    v = CTX.Value("Q", 0)
    return released_run("counter", procs, count, (v, m), lambda: v.value)


def pong_side(ping, pong, n, cpus):
    """B of the ping-pong benchmark."""
    die_with_parent()
    if cpus is not None:
        set_affinity(cpus)
    for _ in range(n):
        ping.wait()
        ping.clear()
        pong.set()


def bench_pingpong(n, cpus=None):
    ping, pong = CTX.Event(), CTX.Event()
    child = CTX.Process(target=pong_side, args=(ping, pong, n + 1, cpus), daemon=True)
    child.start()
    try:
        ping.set()
        pong.wait()
        pong.clear()
        start = time.perf_counter_ns()
        for _ in range(n):
            ping.set()
            pong.wait()
            pong.clear()
        elapsed = time.perf_counter_ns() - start
        child.join()
        if child.exitcode != 0:
            return f"error: ping-pong child exit code {child.exitcode}"
        return str(elapsed)
    finally:
        if child.is_alive():
            child.kill()
            child.join()


def set_affinity(cpus):
    os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    return "ok"


SYNC_COMMANDS = {
    "counter": lambda procs, m: bench_counter(int(procs), int(m)),
    "pingpong": lambda n, cpus=None: bench_pingpong(int(n), cpus),
    "affinity": set_affinity,
}


class Echo:
    """The long-lived child of the signal benchmark."""

    def __init__(self):
        self.proc = None

    def start(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, USR1 | USR2)
        self.proc = CTX.Process(target=echo, args=(os.getpid(),), daemon=True)
        self.proc.start()

    def bench(self, n):
        if self.proc is None:
            self.start()
        pid = self.proc.pid
        kill, sigwait, usr1 = os.kill, signal.sigwait, signal.SIGUSR1
        start = time.perf_counter_ns()
        for _ in range(n):
            kill(pid, usr1)
            sigwait(USR2)
        return time.perf_counter_ns() - start

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.join()
            self.proc = None


def run(words, echo_child):
    cmd = words[0]
    if cmd == "version":
        return version()
    if cmd == "spawn":
        return str(bench_spawn(int(words[1])))
    if cmd == "signal":
        return str(echo_child.bench(int(words[1])))
    if cmd in SYNC_COMMANDS:
        return SYNC_COMMANDS[cmd](*words[1:])
    return f"error: unknown command {cmd!r}"


def main():
    echo_child = Echo()
    serve(lambda words: run(words, echo_child), echo_child.stop)


if __name__ == "__main__":
    main()
