#!/usr/bin/env python3
"""Python side of `cargo bench -p mproc-bench --bench values`
(bench/benches/values.rs): Python's `Queue` of a small dict, the value the
Rust contenders carry as a serde struct.

Standard library only. One command per line on stdin, one answer per line:

    version          -> "<implementation> <version>"
    queue_oneway N   -> total nanoseconds for a child forked for the command
                        to put N dicts on a ctx.Queue() and this process to
                        get them all (each checked: its "seq" is the next
                        one), from the go (an Event set here once the child
                        is waiting for it) to the last get
    quit (or EOF)    -> exits

The dict is {"seq": i, "stamp": i * 7, "name": NAME, "flags": 3,
"score": 0.5}, NAME 32 characters: about 64 bytes of content, as the Rust
record. A fresh dict per put (Python's Queue pickles it later, in its
feeder thread). The command loop and die_with_parent come from
scripts/bench_peer_common.py.
"""

import os
import sys
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")
)
from bench_peer_common import CTX, die_with_parent, serve, version  # noqa: E402

NAME = "worker-0042/queue/values-bench.."


def produce(q, ready, go, n):
    die_with_parent()
    ready.set()
    go.wait()
    for i in range(n):
        q.put({"seq": i, "stamp": i * 7, "name": NAME, "flags": 3, "score": 0.5})
    q.close()
    q.join_thread()


def queue_oneway(n):
    q, ready, go = CTX.Queue(), CTX.Event(), CTX.Event()
    child = CTX.Process(target=produce, args=(q, ready, go, n), daemon=True)
    child.start()
    try:
        if not ready.wait(60):
            return "error: queue_oneway: the producer never got ready"
        get = q.get
        start = time.perf_counter_ns()
        go.set()
        for i in range(n):
            d = get()
            if d["seq"] != i or d["name"] != NAME:
                return f"error: queue_oneway: got {d!r} for message {i}"
        elapsed = time.perf_counter_ns() - start
        child.join(60)
        if child.exitcode != 0:
            return f"error: queue_oneway: producer exit code {child.exitcode}"
        return str(elapsed)
    finally:
        if child.is_alive():
            child.kill()
            child.join()


def run(words):
    if words[0] == "version":
        return version()
    if words[0] == "queue_oneway":
        return queue_oneway(int(words[1]))
    return f"error: unknown command {words[0]}"


if __name__ == "__main__":
    serve(run, lambda: None)
