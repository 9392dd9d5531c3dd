//! Access to a gateway: loopback only by default; zenoh's TLS link and
//! its user/password authentication passed through a configuration file
//! (`--config`). Each case runs the `mproc-zenoh` program: a peer with the
//! right certificate or password gets the items, one without gets none.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Queues, Reaped, free_port, msg, signal, start, take};
use mproc::ipc::MessageQueue;

/// A directory removed when the test ends.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn dir(name: &str) -> Dir {
    let d = std::env::temp_dir().join(format!("mproc-zt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}

/// Runs `openssl` with `args` (split at spaces) in `dir`; false (the
/// caller skips) when it is not installed.
fn openssl(dir: &Path, args: &str) -> bool {
    let args: Vec<&str> = args.split_whitespace().collect();
    match Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(e) => {
            eprintln!("skipped: no openssl to make certificates ({e})");
            false
        }
    }
}

/// Elliptic-curve keys: quick to make.
const KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

/// A certificate authority `{ca}.crt`/`{ca}.key` in `dir`.
fn authority(dir: &Path, ca: &str) -> bool {
    openssl(
        dir,
        &format!("req -x509 {KEY} -days 2 -subj /CN={ca} -keyout {ca}.key -out {ca}.crt"),
    )
}

/// `server.crt`/`server.key` for localhost and 127.0.0.1, signed by `ca`.
fn server_certificate(dir: &Path, ca: &str) -> bool {
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &format!("req {KEY} -subj /CN=localhost -keyout server.key -out server.csr"),
    ) && openssl(
        dir,
        &format!(
            "x509 -req -in server.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 2 \
             -extfile san.ext -out server.crt"
        ),
    )
}

/// A zenoh configuration file `name` in `dir`: `body` inside, multicast
/// scouting off (a file given replaces the gateway's defaults).
fn config(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("{{ scouting: {{ multicast: {{ enabled: false }} }}, {body} }}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// Sends items `from..to` into `out` and checks that `good` gets them,
/// in order, and that `bad` gets none of them in the time `good` took
/// plus a second.
fn cross(out: &MessageQueue, good: &MessageQueue, bad: &MessageQueue, from: u32, to: u32) {
    for i in from..to {
        out.send_timeout(&msg(i), 0, Duration::from_secs(20))
            .unwrap();
        let mut got = Vec::new();
        assert!(
            take(good, &mut got, Duration::from_secs(20)),
            "item {i} did not come"
        );
        assert_eq!(got, [i]);
    }
    let mut stray = Vec::new();
    take(bad, &mut stray, Duration::from_secs(1));
    assert!(stray.is_empty(), "the refused peer got {stray:?}");
}

fn stop(ps: Vec<Reaped>) {
    for p in &ps {
        signal(&p.0, "TERM");
    }
    for mut p in ps {
        assert!(p.0.wait().unwrap().success());
    }
}

#[test]
fn over_tls_a_peer_trusting_the_authority_gets_the_items_and_an_untrusting_one_none() {
    let Some(q) = Queues::new(&["tls-out", "tls-good", "tls-bad"], 10) else {
        return;
    };
    let d = dir("tls");
    if !(authority(&d.0, "ca") && server_certificate(&d.0, "ca") && authority(&d.0, "other")) {
        return;
    }
    let port = free_port();
    let endpoint = format!("tls/localhost:{port}");
    let tls = |ca: &str| {
        format!(
            "transport: {{ link: {{ tls: {{ root_ca_certificate: {:?} }} }} }}",
            d.0.join(format!("{ca}.crt"))
        )
    };
    let server = config(
        &d.0,
        "server.json5",
        &format!(
            "listen: {{ endpoints: [{endpoint:?}] }}, \
             transport: {{ link: {{ tls: {{ listen_certificate: {:?}, listen_private_key: {:?} }} }} }}",
            d.0.join("server.crt"),
            d.0.join("server.key")
        ),
    );
    let trusting = config(&d.0, "trusting.json5", &tls("ca"));
    let untrusting = config(&d.0, "untrusting.json5", &tls("other"));
    let (a, _) = start(&[
        "--config",
        &server,
        "--out",
        &format!("jobs={}:test/tls/jobs", q.name(0)),
    ]);
    let (b, _) = start(&[
        "--config",
        &trusting,
        "--connect",
        &endpoint,
        "--in",
        &format!("jobs=test/tls/jobs:{}", q.name(1)),
    ]);
    let (c, _) = start(&[
        "--config",
        &untrusting,
        "--connect",
        &endpoint,
        "--in",
        &format!("jobs=test/tls/jobs:{}", q.name(2)),
    ]);
    cross(q.queue(0), q.queue(1), q.queue(2), 0, 50);
    // A peer speaking plain TCP to the TLS port gets nothing either.
    let (e, _) = start(&[
        "--connect",
        &format!("tcp/127.0.0.1:{port}"),
        "--in",
        &format!("jobs=test/tls/jobs:{}", q.name(2)),
    ]);
    cross(q.queue(0), q.queue(1), q.queue(2), 50, 100);
    stop(vec![a, b, c, e]);
}

#[test]
fn with_a_password_file_a_peer_with_the_password_gets_the_items_and_one_without_none() {
    let Some(q) = Queues::new(&["pw-out", "pw-good", "pw-bad"], 10) else {
        return;
    };
    let d = dir("pw");
    std::fs::write(d.0.join("passwords"), "site-b:s3cret\n").unwrap();
    let endpoint = format!("tcp/127.0.0.1:{}", free_port());
    let server = config(
        &d.0,
        "server.json5",
        &format!(
            "listen: {{ endpoints: [{endpoint:?}] }}, \
             transport: {{ auth: {{ usrpwd: {{ dictionary_file: {:?} }} }} }}",
            d.0.join("passwords")
        ),
    );
    let user = |password: &str| {
        config(
            &d.0,
            &format!("{password}.json5"),
            &format!(
                "transport: {{ auth: {{ usrpwd: {{ user: \"site-b\", password: {password:?} }} }} }}"
            ),
        )
    };
    let (right, wrong) = (user("s3cret"), user("guess"));
    let (a, _) = start(&[
        "--config",
        &server,
        "--out",
        &format!("jobs={}:test/pw/jobs", q.name(0)),
    ]);
    let (b, _) = start(&[
        "--config",
        &right,
        "--connect",
        &endpoint,
        "--in",
        &format!("jobs=test/pw/jobs:{}", q.name(1)),
    ]);
    let (c, _) = start(&[
        "--config",
        &wrong,
        "--connect",
        &endpoint,
        "--in",
        &format!("jobs=test/pw/jobs:{}", q.name(2)),
    ]);
    cross(q.queue(0), q.queue(1), q.queue(2), 0, 50);
    // And one with no password at all.
    let (e, _) = start(&[
        "--connect",
        &endpoint,
        "--in",
        &format!("jobs=test/pw/jobs:{}", q.name(2)),
    ]);
    cross(q.queue(0), q.queue(1), q.queue(2), 50, 100);
    stop(vec![a, b, c, e]);
}

/// The socket inodes `pid` holds open.
fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?.to_string();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect()
}

#[test]
fn without_listen_or_a_configuration_a_gateway_listens_on_loopback_only() {
    let Some(q) = Queues::new(&["lo-out"], 10) else {
        return;
    };
    let (a, _) = start(&["--out", &format!("jobs={}:test/lo/jobs", q.name(0))]);
    let pid = a.0.id();
    // Listening sockets (state 0A) of the program, with their local
    // address: IPv4 as little-endian hex, IPv6 as four such words.
    let mut listening = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while listening.is_empty() && Instant::now() < deadline {
        let inodes = socket_inodes(pid);
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap();
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                    listening.push(f[1].split(':').next().unwrap().to_string());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!listening.is_empty(), "it listens nowhere");
    for addr in &listening {
        assert!(
            addr == "0100007F" || addr == "00000000000000000000000001000000",
            "it listens on {addr}, not loopback"
        );
    }
    stop(vec![a]);
}
