"""What the Python peers of the benches share (scripts/bench_peer.py,
scripts/bench_pool_peer.py, scripts/bench_manager_peer.py): the command
loop, the version answer, die_with_parent, and children released together.
Standard library only. Not a script: each peer imports it from its own
directory.
"""

import multiprocessing
import platform
import signal
import sys
import time

CTX = multiprocessing.get_context("fork")

# Loaded in the peer before any fork, so that its children share it.
try:
    import ctypes

    _LIBC = ctypes.CDLL(None, use_errno=True)
except (OSError, ImportError):
    _LIBC = None


def die_with_parent():
    """Best effort: SIGKILL this process when its parent dies (prctl)."""
    if _LIBC is not None:
        try:
            _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except AttributeError:
            pass


def version():
    """The answer to "version"."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def _released_child(target, args, ready, go, ends, i):
    die_with_parent()

    def start():
        ready.release()
        go.wait()

    target(*args, start)
    ends[i] = time.perf_counter_ns()


def released_run(what, procs, target, args, count):
    """Forks `procs` daemon children, each running target(*args, start):
    it prepares what it needs untimed, calls start() (ready, then waits
    until all are released together by an Event) and does its work. Once
    every child is ready (within 60 s) they are released. Answers
    "<ns> <count()>": ns from the release to the last child done (each
    stamps its end in a RawArray) and count() read after they are joined,
    or an "error: <what>: ..." answer.
    """
    ready, go = CTX.Semaphore(0), CTX.Event()
    ends = CTX.RawArray("q", procs)
    children = [
        CTX.Process(
            target=_released_child,
            args=(target, args, ready, go, ends, i),
            daemon=True,
        )
        for i in range(procs)
    ]
    try:
        for c in children:
            c.start()
        for _ in children:
            if not ready.acquire(timeout=60):
                return f"error: {what}: children never got ready"
        # perf_counter_ns is CLOCK_MONOTONIC: one clock for every process.
        start = time.perf_counter_ns()
        go.set()
        for c in children:
            c.join()
        if any(c.exitcode != 0 for c in children):
            return f"error: {what}: child exit codes {[c.exitcode for c in children]}"
        return f"{max(ends) - start} {count()}"
    finally:
        for c in children:
            if c.is_alive():
                c.kill()
                c.join()


def serve(run, cleanup):
    """The peer's loop: dies with the bench (die_with_parent), then answers
    each command line on stdin with run(words), one line each, flushed
    before the next command (so that a forked child never holds, and
    flushes again, a half-written answer); an exception is answered
    "error: <command>: ...", which makes the bench drop Python. Ends at
    "quit" or EOF, then calls cleanup().
    """
    die_with_parent()
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            try:
                answer = run(words)
            except Exception as e:  # reported to the bench, which drops Python
                answer = f"error: {words[0]}: {e!r}"
            sys.stdout.write(answer + "\n")
            sys.stdout.flush()
    finally:
        cleanup()
