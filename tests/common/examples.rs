//! Example binaries for the integration tests that run them: built by
//! `cargo build --example …` for the test's own profile and target.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

/// `cargo build` of the examples `names` for this test's profile and
/// target (`profile_dir`, the directory the test binary's `deps` is in; a
/// no-op when `cargo test` built them already). Without cargo (the test
/// binary run by hand), the binaries found are used as they are.
pub fn build(profile_dir: &Path, names: &[&str]) {
    let Some(cargo) = std::env::var_os("CARGO").or_else(|| option_env!("CARGO").map(Into::into))
    else {
        return;
    };
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet"]);
    for name in names {
        cmd.args(["--example", name]);
    }
    match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
    }
    let parent = profile_dir.parent().expect("a target directory");
    if parent.join("CACHEDIR.TAG").exists() {
        cmd.arg("--target-dir").arg(parent);
    } else if let (Some(triple), Some(target_dir)) = (parent.file_name(), parent.parent()) {
        cmd.arg("--target")
            .arg(triple)
            .arg("--target-dir")
            .arg(target_dir);
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "building the examples {names:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            // Straight to the process's stderr, past libtest's capture.
            let _ = writeln!(
                std::io::stderr(),
                "cannot run cargo ({e}); using the examples as built"
            );
        }
    }
}
