#!/usr/bin/env python3
"""Python side of `cargo bench --bench process` (benches/process.rs).

Runs the Python contenders of the process benchmarks and reports their
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
    quit (or EOF)    -> stops the signal child and exits

Every answer is flushed before the next fork, so a forked child never holds
(and flushes again) a half-written answer.
"""

import multiprocessing
import os
import platform
import signal
import sys
import time

CTX = multiprocessing.get_context("fork")
USR1 = {signal.SIGUSR1}
USR2 = {signal.SIGUSR2}


def nothing():
    """The spawn benchmark's target: returns at once."""


def die_with_parent():
    """Best effort: SIGKILL this process when its parent dies (prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


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


def main():
    echo_child = Echo()
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            cmd = words[0]
            if cmd == "version":
                answer = f"{platform.python_implementation()} {platform.python_version()}"
            elif cmd == "spawn":
                answer = str(bench_spawn(int(words[1])))
            elif cmd == "signal":
                answer = str(echo_child.bench(int(words[1])))
            elif cmd == "quit":
                break
            else:
                answer = f"error: unknown command {cmd!r}"
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()
    finally:
        echo_child.stop()


if __name__ == "__main__":
    main()
