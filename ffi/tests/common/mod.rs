//! Building the C programs against the static library, and running them
//! under a watchdog.
//!
//! The library has no rlib (see Cargo.toml), so `cargo test` does not
//! build `libmproc.a` for the tests: [`static_lib`] asks the cargo running
//! the tests (`$CARGO`) to build it, with the same profile and target dir,
//! and takes the file's path from cargo's own report. A fresh clone needs
//! nothing else.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Builds `libmproc.a` and `libmproc.so` (once per test binary) and
/// returns their paths.
fn libs() -> &'static (PathBuf, PathBuf) {
    static LIBS: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    LIBS.get_or_init(build_libs)
}

/// The static library, `libmproc.a`.
pub fn static_lib() -> PathBuf {
    libs().0.clone()
}

/// The shared library, `libmproc.so`.
pub fn shared_lib() -> PathBuf {
    libs().1.clone()
}

fn build_libs() -> (PathBuf, PathBuf) {
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let mut target_dir = profile_dir.parent().expect("the target dir");
    // target/<triple>/<profile>/deps with --target: build for that triple.
    let triple = target_dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.contains("-linux-"))
        .map(str::to_string);
    if triple.is_some() {
        target_dir = target_dir.parent().expect("the target dir");
    }
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "-p",
        "mproc-ffi",
        "--lib",
        "--message-format=json-render-diagnostics",
    ])
    .arg("--target-dir")
    .arg(target_dir)
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .stderr(Stdio::inherit());
    if release {
        cmd.arg("--release");
    }
    if let Some(triple) = &triple {
        cmd.args(["--target", triple]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{cargo} build -p mproc-ffi`: {e}"));
    assert!(
        out.status.success(),
        "`cargo build -p mproc-ffi` failed: {}",
        out.status
    );
    // Cargo's JSON report names the artifact's files (paths as JSON
    // strings: no quote or backslash in a target dir's path here).
    let report = String::from_utf8_lossy(&out.stdout);
    let find = |file: &str| {
        report
            .split('"')
            .find(|s| s.ends_with(file))
            .map(PathBuf::from)
            .filter(|p| p.exists())
            .unwrap_or_else(|| panic!("cargo built no {file}:\n{report}"))
    };
    (find("/libmproc.a"), find("/libmproc.so"))
}

/// The C compiler: `$CC`, else `cc`.
pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

/// Compiles `ffi/<src>` against the header and `libmproc.a` into the test's
/// temporary directory; returns the program's path.
pub fn compile(src: &str, name: &str) -> PathBuf {
    compile_all(&[src], name)
}

/// [`compile`] for a program of several files.
pub fn compile_all(srcs: &[&str], name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let lib = static_lib();
    let status = Command::new(cc())
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(manifest.join("include"))
        .args(srcs.iter().map(|src| manifest.join(src)))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{}` (set CC): {e}", cc()));
    assert!(status.success(), "compiling {srcs:?} failed: {status}");
    out
}

/// Starts `program` with stdout and stderr piped, in a process group of
/// its own (so a watchdog stops its children too).
pub fn spawn(program: &Path, args: &[&str]) -> Child {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .process_group(0)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

/// Waits for `child` at most `limit` (a watchdog: it is killed past it),
/// returning its status and the rest of its stdout and stderr (empty for
/// a stream the caller took).
pub fn finish(mut child: Child, limit: Duration) -> (ExitStatus, String, String) {
    fn drain(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_string(&mut s);
            }
            s
        })
    }
    let reader = drain(child.stdout.take());
    let err_reader = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the C program") {
            break status;
        }
        if start.elapsed() > limit {
            // The whole group: a child left running would hold the pipes
            // open (and the readers with them).
            // SAFETY: kill(2) on the process group this helper made.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let status = child.wait().expect("reaping the C program");
            let out = reader.join().unwrap_or_default();
            panic!("the C program hung (killed after {limit:?}: {status}); its output:\n{out}");
        }
        // A watchdog's sleep, not a readiness guess.
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status,
        reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default(),
    )
}

/// The names under `dir` (e.g. `/dev/shm`) that contain `part`.
pub fn leftovers(dir: &str, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(part))
                .collect()
        })
        .unwrap_or_default()
}
