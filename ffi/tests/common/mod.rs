//! Building the C programs against the static library of this very test
//! run, and running them under a watchdog.
//!
//! `cargo test -p mproc-ffi` compiles the library with all its crate
//! types, so `libmproc.a` lies beside the test binary (in
//! `target/<profile>/deps/`), fresh and of the same profile and target: no
//! second cargo run is needed, on a fresh clone too.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The directory holding this run's `libmproc.a`.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the deps directory").to_path_buf();
    for dir in [
        deps.clone(),
        deps.parent().map(Path::to_path_buf).unwrap_or_default(),
    ] {
        if dir.join("libmproc.a").exists() {
            return dir;
        }
    }
    panic!(
        "libmproc.a is neither in {} nor beside it: run these tests with `cargo test -p mproc-ffi`",
        deps.display()
    );
}

/// The C compiler: `$CC`, else `cc`.
pub fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

/// Compiles `ffi/<src>` against the header and `libmproc.a` into the test's
/// temporary directory; returns the program's path.
pub fn compile(src: &str, name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let lib = lib_dir().join("libmproc.a");
    let status = Command::new(cc())
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(manifest.join("include"))
        .arg(manifest.join(src))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-lrt", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{}` (set CC): {e}", cc()));
    assert!(status.success(), "compiling {src} failed: {status}");
    out
}

/// Starts `program` with stdout and stderr piped.
pub fn spawn(program: &Path, args: &[&str]) -> Child {
    Command::new(program)
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
            let _ = child.kill();
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
