#!/usr/bin/env python3
"""Python side of `cargo bench -p mproc-bench --bench ipc` (bench/benches/ipc.rs).

Runs the Python contenders of the message-passing benchmark and reports
their timings. Standard library only. The bench starts this script once and
talks to it over stdin/stdout, one command per line, one answer per line, as
scripts/bench_peer.py does for the other benchmarks:

    version          -> "<implementation> <version>"
    pipe N           -> total nanoseconds for N round trips of a 64-byte
                        bytes object over ctx.Pipe() (duplex): send_bytes,
                        then recv_bytes; a child forked for the command
                        echoes each message back; one untimed round trip
                        first
    queue N          -> the same over two ctx.Queue()s, one per direction
                        (put, then get; the child gets and puts back)
    queue_oneway N   -> total nanoseconds for a child forked for the command
                        to put N 64-byte bytes objects on a ctx.Queue() and
                        this process to get them all: from the go (an Event
                        set here once the child is waiting for it) to the
                        last get
    children_on CPU  -> "ok": every child forked later first moves itself
                        to CPU (os.sched_setaffinity); the bench sends it
                        when pinned (MPROC_BENCH_IPC_PIN)
    quit (or EOF)    -> exits

with ctx = multiprocessing.get_context("fork"). An answer starting with
"error" reports a failure; the bench then drops the Python contenders.
Every answer is flushed before the next fork, so a forked child never holds
(and flushes again) a half-written answer. This process and its children
die with their parent (PR_SET_PDEATHSIG), so a bench stopped by its
watchdog leaves nothing behind.
"""

import multiprocessing
import os
import platform
import signal
import sys
import time

CTX = multiprocessing.get_context("fork")
MSG = bytes(range(64))
CHILD_CPU = None


def die_with_parent():
    """Best effort: SIGKILL this process when its parent dies (prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def child_setup(cpu):
    """What every forked child does first."""
    die_with_parent()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def pipe_echo(conn, n, cpu):
    child_setup(cpu)
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def queue_echo(there, back, n, cpu):
    child_setup(cpu)
    for _ in range(n):
        back.put(there.get())


def produce(q, ready, go, n, cpu):
    child_setup(cpu)
    ready.set()
    go.wait()
    for _ in range(n):
        q.put(MSG)


def finish(child, what):
    """Joins the child; an error answer unless it exited with 0."""
    child.join(60)
    if child.exitcode is None:
        child.kill()
        child.join()
        return f"error: the {what} child hung"
    if child.exitcode != 0:
        return f"error: the {what} child exited with {child.exitcode}"
    return None


def bench_pipe(n):
    here, there = CTX.Pipe()
    child = CTX.Process(target=pipe_echo, args=(there, n + 1, CHILD_CPU), daemon=True)
    child.start()
    there.close()
    here.send_bytes(MSG)
    if here.recv_bytes() != MSG:
        return "error: pipe: a wrong echo"
    send, recv = here.send_bytes, here.recv_bytes
    start = time.perf_counter_ns()
    for _ in range(n):
        send(MSG)
        recv()
    elapsed = time.perf_counter_ns() - start
    return finish(child, "pipe") or str(elapsed)


def bench_queue(n):
    there, back = CTX.Queue(), CTX.Queue()
    child = CTX.Process(target=queue_echo, args=(there, back, n + 1, CHILD_CPU), daemon=True)
    child.start()
    there.put(MSG)
    if back.get() != MSG:
        return "error: queue: a wrong echo"
    put, get = there.put, back.get
    start = time.perf_counter_ns()
    for _ in range(n):
        put(MSG)
        get()
    elapsed = time.perf_counter_ns() - start
    return finish(child, "queue") or str(elapsed)


def bench_queue_oneway(n):
    q, ready, go = CTX.Queue(), CTX.Event(), CTX.Event()
    child = CTX.Process(target=produce, args=(q, ready, go, n, CHILD_CPU), daemon=True)
    child.start()
    if not ready.wait(60):
        child.kill()
        child.join()
        return "error: queue_oneway: the producer never got ready"
    get = q.get
    start = time.perf_counter_ns()
    go.set()
    for _ in range(n):
        get()
    elapsed = time.perf_counter_ns() - start
    return finish(child, "queue_oneway producer") or str(elapsed)


def children_on(cpu):
    global CHILD_CPU
    CHILD_CPU = cpu
    return "ok"


BENCHES = {
    "pipe": bench_pipe,
    "queue": bench_queue,
    "queue_oneway": bench_queue_oneway,
    "children_on": children_on,
}


def main():
    die_with_parent()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd = words[0]
        if cmd == "quit":
            break
        if cmd == "version":
            answer = f"{platform.python_implementation()} {platform.python_version()}"
        elif cmd in BENCHES and len(words) == 2:
            try:
                answer = BENCHES[cmd](int(words[1]))
            except Exception as e:  # reported to the bench, which drops the peer
                answer = f"error: {cmd}: {e!r}"
        else:
            answer = f"error: unknown command {line.strip()!r}"
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
