//! The binaries measured: the example daemon built dynamic and static, their stripped sizes and libraries.

use super::*;

/// The binaries measured.
pub(super) struct Binaries {
    pub(super) daemon: PathBuf,
    pub(super) submit: PathBuf,
    /// The static `daemon` and `submit`, or why there are none.
    pub(super) static_bins: std::result::Result<(PathBuf, PathBuf), String>,
}

/// Builds (if need be) and finds the release binaries, and the static ones
/// unless `plan` says not to.
pub(super) fn binaries(plan: &Plan) -> Result<Binaries> {
    let exe = std::env::current_exe()?;
    // target/[<triple>/]<profile>/deps/daemon-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the bench executable does not live in <target>/<profile>/deps")?
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .and_then(|p| p.to_str())
        .unwrap_or("release")
        .to_owned();
    let parent = profile_dir.parent().ok_or("no target directory")?;
    let (target_dir, triple) = if parent.join("CACHEDIR.TAG").exists() {
        (parent.to_path_buf(), None)
    } else {
        let triple = parent.file_name().map(|t| t.to_owned());
        let dir = parent.parent().ok_or("no target directory")?.to_path_buf();
        (dir, triple)
    };
    if let Some(cargo) = cargo() {
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
            "build",
            "--quiet",
            "--example",
            "daemon",
            "--example",
            "submit",
        ]);
        match profile.as_str() {
            "release" => {
                cmd.arg("--release");
            }
            "debug" => {}
            other => {
                cmd.args(["--profile", other]);
            }
        }
        cmd.arg("--target-dir").arg(&target_dir);
        if let Some(triple) = &triple {
            cmd.arg("--target").arg(triple);
        }
        let out = cmd.output()?;
        if !out.status.success() {
            return Err(format!(
                "building the examples failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    } else {
        eprintln!("bench daemon: no cargo to build the examples; using them as built");
    }
    let dir = profile_dir.join("examples");
    let (daemon, submit) = (dir.join("daemon"), dir.join("submit"));
    for bin in [&daemon, &submit] {
        if !bin.exists() {
            return Err(format!(
                "{} is missing: cargo build --release --example daemon --example submit",
                bin.display()
            )
            .into());
        }
    }
    let static_bins = if plan.static_build {
        build_static(&target_dir)
    } else {
        Err("not built in a quick run".to_owned())
    };
    Ok(Binaries {
        daemon,
        submit,
        static_bins,
    })
}

pub(super) fn cargo() -> Option<OsString> {
    std::env::var_os("CARGO").or_else(|| option_env!("CARGO").map(Into::into))
}

/// The host's target triple, from `rustc -vV`.
pub(super) fn host_triple() -> std::result::Result<String, String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host".to_owned())
}

/// The `+crt-static` release build of `daemon` and `submit` for the host,
/// in `<target>/bench-static`; or why there is none.
pub(super) fn build_static(target_dir: &Path) -> std::result::Result<(PathBuf, PathBuf), String> {
    let host = host_triple()?;
    if host.ends_with("-linux-musl") || host.contains("-linux-musl") {
        return Err(format!(
            "{host}: the release binaries above are static already (musl)"
        ));
    }
    if !host.contains("-linux-gnu") {
        return Err(format!(
            "{host}: no static variant is tried for this target"
        ));
    }
    let cargo = cargo().ok_or("no cargo to build it")?;
    let dir = target_dir.join("bench-static");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--example",
            "daemon",
            "--example",
            "submit",
            "--target",
            &host,
        ])
        .arg("--target-dir")
        .arg(&dir);
    // The user's flags, plus static linking; `--target` keeps them off the
    // build scripts.
    match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(flags) if !flags.is_empty() => {
            cmd.env(
                "CARGO_ENCODED_RUSTFLAGS",
                format!("{flags}\x1f-C\x1ftarget-feature=+crt-static"),
            );
        }
        _ => {
            let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
            cmd.env_remove("CARGO_ENCODED_RUSTFLAGS").env(
                "RUSTFLAGS",
                format!("{flags} -C target-feature=+crt-static").trim(),
            );
        }
    }
    let out = cmd.output().map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo build failed");
        return Err(format!("`+crt-static` for {host} did not build: {why}"));
    }
    let examples = dir.join(&host).join("release").join("examples");
    let (daemon, submit) = (examples.join("daemon"), examples.join("submit"));
    if !daemon.exists() || !submit.exists() {
        return Err(format!("{} is missing after the build", daemon.display()));
    }
    if needed_libraries(&daemon).is_some_and(|libs| !libs.is_empty()) {
        return Err(format!(
            "`+crt-static` for {host} built, but {} still needs shared libraries",
            daemon.display()
        ));
    }
    Ok((daemon, submit))
}

/// The shared libraries `bin` needs (its `NEEDED` entries, `readelf -d`);
/// `None` without `readelf`.
pub(super) fn needed_libraries(bin: &Path) -> Option<Vec<String>> {
    let out = Command::new("readelf").arg("-d").arg(bin).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("(NEEDED)"))
            .filter_map(|l| {
                let (_, rest) = l.split_once('[')?;
                Some(rest.split_once(']')?.0.to_owned())
            })
            .collect(),
    )
}

/// The size of `bin` stripped: a copy stripped by `strip` (or `objcopy
/// --strip-all`), measured and removed; `None` without either tool.
pub(super) fn stripped_size(bin: &Path, scratch: &Path) -> Option<u64> {
    let copy = scratch.join(format!("{}.stripped", bin.file_name()?.to_string_lossy()));
    let tools: [(&str, &[&str]); 2] = [("strip", &["-o"]), ("objcopy", &["--strip-all"])];
    for (tool, args) in tools {
        let mut cmd = Command::new(tool);
        if tool == "strip" {
            cmd.args(args).arg(&copy).arg(bin);
        } else {
            cmd.args(args).arg(bin).arg(&copy);
        }
        let ok = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let size = std::fs::metadata(&copy).ok().map(|m| m.len());
            let _ = std::fs::remove_file(&copy);
            return size;
        }
    }
    None
}
