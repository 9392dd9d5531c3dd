//! The seeds' Python programs (tests/seeds-py, or `MPROC_SEEDS_PY`) run
//! against the crate's servers: where they are, the shim that points the
//! seed client's fixed address at a test's port, and a run with a watchdog.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs a seed file with `socket.connect` to 127.0.0.1:8080 sent to the
/// port in argv[1] instead; the seed's `input()` ending at end of stdin
/// ends it. The seed file itself is not changed.
pub const SHIM: &str = r#"
import runpy, socket, sys
port, seed = int(sys.argv[1]), sys.argv[2]
connect = socket.socket.connect
def redirected(self, addr):
    if tuple(addr) == ('127.0.0.1', 8080):
        addr = ('127.0.0.1', port)
    return connect(self, addr)
socket.socket.connect = redirected
try:
    runpy.run_path(seed, run_name='__main__')
except EOFError:
    pass
"#;

/// The seeds' directory, when python3 and the seeds are here (and this is
/// not qemu-user); says why not on stderr otherwise.
pub fn python_seeds() -> Option<PathBuf> {
    let dir = std::env::var_os("MPROC_SEEDS_PY").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/seeds-py")),
        PathBuf::from,
    );
    if !dir.join("echo_load_client.py").exists() {
        eprintln!("SKIPPED: no seeds-py directory (set MPROC_SEEDS_PY)");
        return None;
    }
    if crate::common::under_qemu() || Command::new("python3").arg("-V").output().is_err() {
        eprintln!("SKIPPED: no python3 to run the seed clients (or under qemu-user)");
        return None;
    }
    Some(dir)
}

/// Runs `cmd` to its end with `stdin` fed to it, killing it after `limit`
/// (a watchdog); what it printed.
pub fn run(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("python3");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Runs `echo_load_client.py PORT N` (N clients at once, three messages
/// each) to its end; its lines, one per client, checked to be N and the
/// run successful.
pub fn load_clients(dir: &std::path::Path, port: u16, n: usize) -> Vec<String> {
    let mut load = Command::new("python3");
    load.arg(dir.join("echo_load_client.py"))
        .arg(port.to_string())
        .arg(n.to_string());
    let out = run(load, b"", Duration::from_secs(40));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), n, "{text}");
    lines
}
