#!/usr/bin/env python3
"""The size and memory table: stripped sizes of the size-table programs
(`examples/size/`, the example daemon, and std alone for the floor) built
with `--profile size`, per target, dynamic and static; and, natively, each
program's USS and PSS at rest and after 10,000 operations.

    python3 scripts/size_table.py              # every target it can build
    python3 scripts/size_table.py --no-memory  # sizes only
    TARGETS="x86_64-unknown-linux-gnu" python3 scripts/size_table.py
    python3 scripts/size_table.py --build-std  # std rebuilt, see below
    python3 scripts/size_table.py --qemu       # and run the foreign static builds
    python3 scripts/size_table.py --strict     # exit 1 on a skip, a failed run, a missed target

A target whose Rust std cannot be had (`rustup target add`) is skipped,
saying why. Prints two markdown tables.

`--build-std` rebuilds std with the program (`-Z build-std=std,panic_abort`,
std's source from the `rust-src` component) and builds with
`-Zunstable-options -Cpanic=immediate-abort`: a panic aborts at once,
without a message, and std's panic formatting is left out. Both flags are
unstable; `RUSTC_BOOTSTRAP=1` unlocks them on a stable compiler. Its
targets add the 32-bit ARM musl ones, whose Rust std rustup does not have:
their C side is Debian's musl, fetched by scripts/musl-armhf.sh.

`--qemu` runs each static build for another architecture under qemu-user
(where installed): the size programs through their steps, the example
daemon with 100 jobs sent by `submit`.
"""

import os
import shutil
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
# Built with --build-std only: no Rust std from rustup, Debian's musl.
MUSL_ARMHF = ["armv7-unknown-linux-musleabihf",
              "thumbv7neon-unknown-linux-musleabihf"]
BUILD_STD_TARGETS = list(GNU_LINKERS) + MUSL + MUSL_ARMHF[1:]
MUSL_ARMHF_DIR = os.path.join(ROOT, "target", "musl-armhf")
QEMU = {"aarch64": "qemu-aarch64", "armv7": "qemu-arm", "thumbv7neon": "qemu-arm"}


def is_musl(target):
    return "-musl" in target


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def rustup_add(kind, name):
    """(ok, why): rustup's `target` or `component` NAME, added if missing."""
    out = subprocess.run(["rustup", kind, "list", "--installed"],
                         capture_output=True, text=True).stdout.split()
    if name in out or f"{name}-x86_64-unknown-linux-gnu" in out:
        return True, ""
    r = subprocess.run(["rustup", kind, "add", name],
                       capture_output=True, text=True)
    if r.returncode == 0:
        return True, ""
    why = [l for l in r.stderr.splitlines() if "error" in l or "status" in l]
    return False, "; ".join(why[:2]) or f"rustup {kind} add failed"


def installed(target, build_std=False):
    """(ok, why): what building for TARGET needs. Without build-std, its
    Rust std. With it, std's source (`rust-src`) and, for musl, the C
    side: the crt objects and libc.a of the target's Rust std
    ("self-contained"), or Debian's musl for 32-bit ARM."""
    if not build_std:
        ok, why = rustup_add("target", target)
        return ok, f"no Rust std ({why})"
    ok, why = rustup_add("component", "rust-src")
    if not ok:
        return False, f"no rust-src for -Z build-std ({why})"
    if target in MUSL_ARMHF:
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "musl-armhf.sh"),
                            MUSL_ARMHF_DIR], capture_output=True, text=True)
        for line in r.stderr.splitlines():
            log(line)
        if r.returncode != 0:
            return False, "no musl for armhf: " + (r.stderr.strip().splitlines()
                                                   or ["musl-armhf.sh failed"])[-1]
        return True, ""
    if is_musl(target):
        return rustup_add("target", target)
    return True, ""


def build(target, static, build_std=False):
    env = dict(os.environ)
    var = target.upper().replace("-", "_")
    flags = []
    if target in MUSL_ARMHF and build_std:
        # No self-contained objects: gcc links Debian's musl (-B: its crt
        # objects before glibc's, -L: its libc.a and libunwind.a).
        env[f"CARGO_TARGET_{var}_LINKER"] = "arm-linux-gnueabihf-gcc"
        flags += ["-Clink-self-contained=no", f"-Clink-arg=-B{MUSL_ARMHF_DIR}",
                  f"-L{MUSL_ARMHF_DIR}"]
    elif is_musl(target):
        env[f"CARGO_TARGET_{var}_LINKER"] = "rust-lld"
    elif GNU_LINKERS[target]:
        env[f"CARGO_TARGET_{var}_LINKER"] = GNU_LINKERS[target]
    if static and (build_std or not is_musl(target)):
        # (thumbv7neon-unknown-linux-musleabihf is dynamic by default)
        flags += ["-C", "target-feature=+crt-static"]
    if build_std:
        env["RUSTC_BOOTSTRAP"] = "1"
        flags += ["-Zunstable-options", "-Cpanic=immediate-abort"]
    if flags:
        env["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join(flags)
    link = "static" if static else "dynamic"
    tdir = os.path.join(ROOT, "target", "size-table",
                        ("build-std-" if build_std else "") + link)
    cmd = ["cargo", "build", "-q", "--profile", "size", "--target", target,
           "--target-dir", tdir]
    if build_std:
        cmd += ["-Z", "build-std=std,panic_abort"]
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


def measure_program(path, runner=()):
    """Runs one steps-protocol program: its memory at rest and after
    (None for both under a RUNNER such as qemu, whose memory it would be)."""
    p = subprocess.Popen([*runner, path], stdout=subprocess.PIPE, text=True)
    mem = (lambda: None) if runner else (lambda: smaps(p.pid))
    try:
        assert p.stdout.readline().startswith("ready")
        rest = mem()
        p.send_signal(signal.SIGUSR1)
        line = p.stdout.readline()
        assert line.startswith("done"), line
        after = mem()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        return rest, after
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def measure_daemon(examples, runner=(), jobs=10000):
    """The example daemon's master: at rest, and after JOBS jobs
    (`submit --count JOBS sleep 0`) are done (None under a RUNNER)."""
    me = os.getpid()
    pidfile, logfile = f"/tmp/mproc-size-{me}.pid", f"/tmp/mproc-size-{me}.log"
    queue, status = f"/mproc-size-jobs-{me}", f"/mproc-size-status-{me}"
    mem = (lambda: None) if runner else (lambda: smaps(p.pid))
    p = subprocess.Popen([*runner, os.path.join(examples, "daemon"), "--pidfile", pidfile,
                          "--log", logfile, "--queue", queue, "--status", status,
                          "--workers", "2"], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while not (os.path.exists(logfile) and "started" in open(logfile).read()):
            assert time.time() < deadline, "the daemon did not start"
            time.sleep(0.05)
        time.sleep(0.2)
        rest = mem()
        subprocess.run([*runner, os.path.join(examples, "submit"), "--queue", queue,
                        "--id", "1", "--count", str(jobs), "sleep", "0"],
                       check=True, stdout=subprocess.DEVNULL)
        deadline = time.time() + 120
        while open(logfile).read().count(" done ") < jobs:
            assert time.time() < deadline, "the jobs did not finish"
            time.sleep(0.1)
        after = mem()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        assert rc == 0 or not runner, f"the daemon exited {rc}"
        return rest, after
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for f in (pidfile, logfile):
            if os.path.exists(f):
                os.remove(f)


def run_under(runner, examples):
    """Each program under RUNNER (qemu-user): 'ok' or what went wrong."""
    if not shutil.which(runner[0]):
        return "not run: no such program (apt-get install qemu-user)"
    log(f"running {examples} under {runner[0]}")
    results = []
    for label, name in PROGRAMS:
        path = os.path.join(examples, name)
        try:
            if name == "size_floor":
                r = subprocess.run([*runner, path], capture_output=True,
                                   text=True, timeout=60)
                assert r.returncode == 0 and r.stdout == "ready\n", \
                    f"exit {r.returncode}: {r.stderr.strip()[-60:]}"
            elif name == "daemon":
                measure_daemon(examples, runner, jobs=100)
            else:
                measure_program(path, runner)
            results.append(f"{label.split()[0]} ok")
        except Exception as e:  # noqa: BLE001 -- reported, not raised
            results.append(f"{label.split()[0]} FAILED ({e!r:.80})")
    return ", ".join(results)


# Issue targets: the static example daemon for 32-bit ARM, and a
# `Process` + `Queue` program on any 32-bit ARM build, in bytes.
DAEMON_TARGET, QUEUE_TARGET = 500_000, 150_000


def targets_met(columns, sizes):
    """Prints the two size targets' readings over the 32-bit ARM columns;
    True when both are met in some column, False when not, None when no
    such column was built."""
    arm = [c for c in columns if c.startswith(("armv7", "thumbv7"))]
    if not arm:
        return None
    daemon = min((sizes[(c, "daemon")], c) for c in arm if c.endswith("static"))
    queue = min((sizes[(c, "size_queue")], c) for c in arm)
    for what, (size, col), limit in [("static example daemon", daemon, DAEMON_TARGET),
                                     ("(c) Process + Queue", queue, QUEUE_TARGET)]:
        verdict = "met" if size <= limit else "missed"
        print(f"- target {what} <= {limit // 1000} KB on 32-bit ARM: {size / 1000:.0f} KB "
              f"({col}): {verdict}")
    return daemon[0] <= DAEMON_TARGET and queue[0] <= QUEUE_TARGET


def main():
    build_std = "--build-std" in sys.argv
    default = BUILD_STD_TARGETS if build_std else DEFAULT_TARGETS
    targets = os.environ.get("TARGETS", " ".join(default)).split()
    memory = "--no-memory" not in sys.argv
    columns, sizes, skipped, ran = [], {}, [], []
    native = None
    for target in targets:
        ok, why = installed(target, build_std)
        if not ok:
            skipped.append(f"{target}: {why}")
            continue
        for static in ([True] if is_musl(target) else [False, True]):
            link = "static" if static else "dynamic"
            log(f"building {target} {link}")
            start = time.time()
            examples, err = build(target, static, build_std)
            if examples is None:
                skipped.append(f"{target} {link}: build failed ({err})")
                continue
            log(f"built {target} {link} in {time.time() - start:.0f} s")
            col = f"{target} {link}"
            columns.append(col)
            for _, name in PROGRAMS:
                sizes[(col, name)] = os.path.getsize(os.path.join(examples, name))
            if target == "x86_64-unknown-linux-gnu" and not static:
                native = examples
            qemu = QEMU.get(target.split("-")[0])
            if "--qemu" in sys.argv and static and qemu:
                ran.append(f"{col} under {qemu}: " + run_under([qemu], examples))
    print("| program | " + " | ".join(f"`{c.split()[0]}` {c.split()[1]}" for c in columns) + " |")
    print("|---|" + "--:|" * len(columns))
    for label, name in PROGRAMS:
        cells = [f"{sizes[(c, name)] / 1024:.0f}" for c in columns]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\nSizes in KiB, stripped, `--profile size`"
          + (", std rebuilt with the program (`-Z build-std=std,panic_abort`) and "
             "`-Cpanic=immediate-abort`." if build_std else "."))
    for s in skipped:
        print(f"- skipped {s}")
    for r in ran:
        print(f"- ran {r}")
    met = targets_met(columns, sizes)
    if "--strict" in sys.argv and (skipped or any("FAILED" in r or "not run" in r for r in ran)
                                   or (build_std and met is False)):
        sys.exit("size_table.py --strict: a target was skipped, a run failed, or a size target missed")
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
