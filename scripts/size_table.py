#!/usr/bin/env python3
"""The size and memory table: stripped sizes of the size-table programs
(`examples/size/`, the example daemon, and std alone for the floor) built
with `--profile size`, per target, dynamic and static; and, natively, each
program's USS and PSS at rest and after 10,000 operations.

    python3 scripts/size_table.py              # every target it can build
    python3 scripts/size_table.py --no-memory  # sizes only
    TARGETS="x86_64-unknown-linux-gnu" python3 scripts/size_table.py

A target whose Rust std cannot be had (`rustup target add`) is skipped,
saying why. Prints two markdown tables.
"""

import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGRAMS = [
    ("std alone (`println!`)", "size_floor"),
    ("(a) `Process` + signals", "size_process"),
    ("(b) + shared memory, `Value` and its lock", "size_sync"),
    ("(c) + `Queue` and `Pipe`", "size_queue"),
    ("(d) + `Pool`", "size_pool"),
    ("(e) + `Manager`", "size_manager"),
    ("(f) the example daemon", "daemon"),
]
GNU_LINKERS = {
    "x86_64-unknown-linux-gnu": None,
    "aarch64-unknown-linux-gnu": "aarch64-linux-gnu-gcc",
    "armv7-unknown-linux-gnueabihf": "arm-linux-gnueabihf-gcc",
    "thumbv7neon-unknown-linux-gnueabihf": "arm-linux-gnueabihf-gcc",
}
MUSL = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl",
        "armv7-unknown-linux-musleabihf"]
DEFAULT_TARGETS = list(GNU_LINKERS) + MUSL


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def installed(target):
    out = subprocess.run(["rustup", "target", "list", "--installed"],
                         capture_output=True, text=True).stdout.split()
    if target in out:
        return True, ""
    r = subprocess.run(["rustup", "target", "add", target],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return True, ""
    why = [l for l in r.stderr.splitlines() if "error" in l or "status" in l]
    return False, "; ".join(why[:2]) or "rustup target add failed"


def build(target, static):
    env = dict(os.environ)
    var = target.upper().replace("-", "_")
    if target in MUSL:
        env[f"CARGO_TARGET_{var}_LINKER"] = "rust-lld"
    elif GNU_LINKERS[target]:
        env[f"CARGO_TARGET_{var}_LINKER"] = GNU_LINKERS[target]
    if static and target not in MUSL:
        env["RUSTFLAGS"] = "-C target-feature=+crt-static"
    link = "static" if static else "dynamic"
    tdir = os.path.join(ROOT, "target", "size-table", link)
    cmd = ["cargo", "build", "-q", "--profile", "size", "--target", target,
           "--target-dir", tdir]
    for _, name in PROGRAMS:
        cmd += ["--example", name]
    cmd += ["--example", "submit"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:]
    return os.path.join(tdir, target, "size", "examples"), None


def smaps(pid):
    """(USS, PSS) in KiB from /proc/PID/smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return uss, fields.get("Pss", 0)


def measure_program(path):
    """Runs one steps-protocol program: its memory at rest and after."""
    p = subprocess.Popen([path], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("ready")
        rest = smaps(p.pid)
        p.send_signal(signal.SIGUSR1)
        line = p.stdout.readline()
        assert line.startswith("done"), line
        after = smaps(p.pid)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        return rest, after
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def measure_daemon(examples):
    """The example daemon's master: at rest, and after 10,000 jobs
    (`submit --count 10000 sleep 0`) are done."""
    me = os.getpid()
    pidfile, logfile = f"/tmp/mproc-size-{me}.pid", f"/tmp/mproc-size-{me}.log"
    queue, status = f"/mproc-size-jobs-{me}", f"/mproc-size-status-{me}"
    p = subprocess.Popen([os.path.join(examples, "daemon"), "--pidfile", pidfile,
                          "--log", logfile, "--queue", queue, "--status", status,
                          "--workers", "2"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not (os.path.exists(logfile) and "started" in open(logfile).read()):
            assert time.time() < deadline, "the daemon did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        rest = smaps(p.pid)
        subprocess.run([os.path.join(examples, "submit"), "--queue", queue,
                        "--id", "1", "--count", "10000", "sleep", "0"],
                       check=True, stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while open(logfile).read().count(" done ") < 10000:
            assert time.time() < deadline, "the jobs did not finish"
            time.sleep(0.1)
        after = smaps(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
        return rest, after
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (pidfile, logfile):
            if os.path.exists(f):
                os.remove(f)


def main():
    targets = os.environ.get("TARGETS", " ".join(DEFAULT_TARGETS)).split()
    memory = "--no-memory" not in sys.argv
    columns, sizes, skipped = [], {}, []
    native = None
    for target in targets:
        ok, why = installed(target)
        if not ok:
            skipped.append(f"{target}: no Rust std ({why})")
            continue
        for static in ([True] if target in MUSL else [False, True]):
            link = "static" if static else "dynamic"
            log(f"building {target} {link}")
            examples, err = build(target, static)
            if examples is None:
                skipped.append(f"{target} {link}: build failed ({err})")
                continue
            col = f"{target} {link}"
            columns.append(col)
            for _, name in PROGRAMS:
                sizes[(col, name)] = os.path.getsize(os.path.join(examples, name))
            if target == "x86_64-unknown-linux-gnu" and not static:
                native = examples
    print("| program | " + " | ".join(f"`{c.split()[0]}` {c.split()[1]}" for c in columns) + " |")
    print("|---|" + "--:|" * len(columns))
    for label, name in PROGRAMS:
        cells = [f"{sizes[(c, name)] / 1024:.0f}" for c in columns]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nSizes in KiB, stripped, `--profile size`.")
    for s in skipped:
        print(f"- skipped {s}")
    if memory and native:
        print("\n| program (x86_64, dynamic) | USS at rest | PSS at rest | USS after 10,000 | PSS after 10,000 |")
        print("|---|--:|--:|--:|--:|")
        for label, name in PROGRAMS:
            if name == "size_floor":
                continue
            path = os.path.join(native, name)
            rest, after = (measure_daemon(native) if name == "daemon"
                           else measure_program(path))
            print(f"| {label} | {rest[0]} | {rest[1]} | {after[0]} | {after[1]} |")
        print("\nKiB, from /proc/PID/smaps_rollup of the program's own process "
              "(not its children, workers or manager server).")


if __name__ == "__main__":
    main()
