//! Socket activation: `LISTEN_*` set up by hand in a forked child (sockets
//! put at fd 3 and on), and for real: `systemd-socket-activate` opens the
//! listeners and starts `examples/socket_activation.rs` on them.

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpStream;
use std::os::fd::RawFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mproc::daemon::{FdKind, LISTEN_FDS_MAX, ListenFds};
use mproc::{ErrorKind, Resource, process};

use crate::common;
use crate::{examples, set_env, unset_env};
use crate::{isolated, serial};

const VARS: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

fn none_left() -> bool {
    VARS.iter().all(|v| std::env::var_os(v).is_none())
}

/// Fills fds 3 to 5 (with `/dev/null`, owned by nothing) so that the
/// sockets a test makes get other numbers, and `place` never replaces a
/// descriptor that a value owns.
fn reserve() {
    let null = std::fs::File::open("/dev/null").unwrap();
    for fd in 3..6 {
        if fd != std::os::fd::AsRawFd::as_raw_fd(&null) {
            place(&null, fd);
        }
    }
    // The File's own number is one of them or above: hand it over.
    let own = std::os::fd::IntoRawFd::into_raw_fd(null);
    if own > 5 {
        close(own);
    }
}

/// Puts a copy of `fd` at `at` (without close-on-exec, as systemd passes
/// them).
fn place(fd: &impl std::os::fd::AsRawFd, at: RawFd) {
    // SAFETY: both descriptors are valid; dup2 replaces `at` in this
    // isolated child.
    let r = unsafe { libc::dup2(fd.as_raw_fd(), at) };
    assert_eq!(r, at, "dup2");
}

fn close(fd: RawFd) {
    // SAFETY: closes a descriptor this isolated child put there (or an
    // unused number: EBADF is fine).
    unsafe { libc::close(fd) };
}

fn cloexec(fd: RawFd) -> bool {
    // SAFETY: plain integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    assert!(flags >= 0, "fd {fd} is not open");
    flags & libc::FD_CLOEXEC != 0
}

fn set(pid: &str, fds: &str, names: Option<&str>) {
    set_env("LISTEN_PID", pid);
    set_env("LISTEN_FDS", fds);
    match names {
        Some(n) => set_env("LISTEN_FDNAMES", n),
        None => unset_env("LISTEN_FDNAMES"),
    }
}

#[test]
fn passed_descriptors_are_taken_with_names_and_kinds_and_the_environment_is_cleared() {
    isolated(|| {
        reserve();
        let me = process::getpid().to_string();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let (dgram, _peer) = UnixDatagram::pair().unwrap();
        let (stream, _other) = UnixStream::pair().unwrap();
        place(&tcp, 3);
        place(&dgram, 4);
        place(&stream, 5);
        drop((tcp, dgram, stream));
        assert!(!cloexec(3));
        set(&me, "3", Some("web:events:conn"));
        let mut fds = ListenFds::from_env().unwrap();
        assert!(none_left());
        assert_eq!(fds.len(), 3);
        let seen: Vec<_> = fds
            .iter()
            .map(|f| (f.name().to_owned(), f.kind()))
            .collect();
        assert_eq!(
            seen,
            [
                ("web".to_owned(), FdKind::TcpListener),
                ("events".to_owned(), FdKind::UnixDatagram),
                ("conn".to_owned(), FdKind::OtherSocket),
            ]
        );
        for fd in 3..6 {
            assert!(cloexec(fd), "fd {fd} left without close-on-exec");
        }
        // A kind that does not fit hands the descriptor back.
        let events = fds.take_name("events").unwrap();
        let back = events.into_tcp_listener().unwrap_err();
        assert_eq!(back.wanted(), FdKind::TcpListener);
        let e: mproc::Error = back.into_inner().into_tcp_listener().unwrap_err().into();
        assert_eq!(e.resource(), Resource::Descriptor(4));
        let web = fds.take_name("web").unwrap().into_tcp_listener().unwrap();
        assert_eq!(web.local_addr().unwrap().port(), port);
        assert!(fds.take_name("web").is_none());
        assert_eq!(fds.len(), 1);
        drop((web, fds));
        // Owned: closed with their values.
        for fd in 3..6 {
            // SAFETY: plain integer arguments.
            assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) }, -1);
        }
        // Once: the variables are gone, a second call finds nothing.
        assert!(ListenFds::from_env().unwrap().is_empty());
    });
}

#[test]
fn without_names_every_descriptor_is_unknown_and_a_unix_listener_converts() {
    isolated(|| {
        reserve();
        let dir = std::env::temp_dir().join(format!("mproc-test-act-{}", process::getpid()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ctl.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        place(&listener, 3);
        drop(listener);
        set(&process::getpid().to_string(), "1", None);
        let mut fds = ListenFds::from_env().unwrap();
        let fd = fds.take_kind(FdKind::UnixListener).unwrap();
        assert_eq!(fd.name(), "unknown");
        let listener = fd.into_unix_listener().unwrap();
        let _client = UnixStream::connect(&path).unwrap();
        listener.accept().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

#[test]
fn descriptors_for_another_process_or_none_are_not_ours() {
    isolated(|| {
        reserve();
        for v in VARS {
            unset_env(v);
        }
        assert!(ListenFds::from_env().unwrap().is_empty());
        // Inherited from a parent that did not take them: left alone
        // (fd 3 is not touched), and the variables go all the same.
        let (a, _b) = UnixStream::pair().unwrap();
        place(&a, 3);
        set(&process::getppid().to_string(), "1", Some("web"));
        assert!(ListenFds::from_env().unwrap().is_empty());
        assert!(none_left());
        assert!(!cloexec(3));
        set(&process::getpid().to_string(), "0", None);
        assert!(ListenFds::from_env().unwrap().is_empty());
        close(3);
    });
}

#[test]
fn a_broken_environment_is_a_typed_error_naming_the_variable_or_descriptor() {
    isolated(|| {
        reserve();
        let me = process::getpid().to_string();
        let expect = |pid: &str, fds: &str, names: Option<&str>, var: &'static str| {
            set(pid, fds, names);
            let e = ListenFds::from_env().unwrap_err();
            assert_eq!(e.resource(), Resource::Environment(var), "{e}");
            assert!(none_left(), "removed even on an error");
            e
        };
        let e = expect("12x", "1", None, "LISTEN_PID");
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        let e = expect(&me, "one", None, "LISTEN_FDS");
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        let e = expect(&me, "-1", None, "LISTEN_FDS");
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        let e = expect(&me, &(LISTEN_FDS_MAX + 1).to_string(), None, "LISTEN_FDS");
        assert_eq!(
            e.kind(),
            ErrorKind::CapacityExceeded {
                limit: LISTEN_FDS_MAX
            }
        );
        let (a, _b) = UnixStream::pair().unwrap();
        place(&a, 3);
        place(&a, 4);
        let e = expect(&me, "2", Some("web"), "LISTEN_FDNAMES");
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        // fd 4 is not open: refused naming it, and fd 3 not taken.
        close(4);
        set(&me, "2", None);
        let e = ListenFds::from_env().unwrap_err();
        assert_eq!(e.resource(), Resource::Descriptor(4), "{e}");
        assert_eq!(e.errno(), Some(libc::EBADF));
        assert!(!cloexec(3));
        close(3);
    });
}

#[test]
fn with_threads_running_nothing_is_taken_or_removed() {
    let _turn = serial();
    if common::under_qemu() {
        common::raw_stderr("SKIPPED under qemu-user (it hides the thread count)\n");
        return;
    }
    common::isolated(|| {
        reserve();
        let (a, _b) = UnixStream::pair().unwrap();
        place(&a, 3);
        set(&process::getpid().to_string(), "1", Some("web"));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || stopped.recv());
        let e = ListenFds::from_env().unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::ThreadsRunning { .. }), "{e}");
        assert!(VARS.iter().all(|v| std::env::var_os(v).is_some()));
        assert!(!cloexec(3));
        stop.send(()).unwrap();
        thread.join().unwrap().unwrap();
        close(3);
    });
}

/// The `socket_activation` example, built if need be; `None` (with the
/// reason printed) where it cannot run under `systemd-socket-activate`.
fn example_and_activator() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let activator = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists())
    .map(Path::to_path_buf);
    let Some(activator) = activator else {
        common::raw_stderr(
            "SKIPPED: systemd-socket-activate is not installed (Debian's systemd package)\n",
        );
        return None;
    };
    if common::under_qemu() {
        common::raw_stderr(
            "SKIPPED under qemu-user (systemd-socket-activate cannot exec a binary of the \
             emulated architecture)\n",
        );
        return None;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in <target>/<profile>/deps");
    examples::build(profile_dir, &["socket_activation"]);
    let example = profile_dir.join("examples").join("socket_activation");
    assert!(example.exists(), "{} is missing", example.display());
    Some((example, activator))
}

/// Kills and reaps the activator's process if a check fails midway.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn read_reply(mut stream: impl std::io::Read) -> String {
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn systemd_socket_activate_hands_the_example_its_named_listeners() {
    let _turn = serial();
    let Some((example, activator)) = example_and_activator() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("mproc-test-activate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    // A free port, found by binding port 0 (systemd-socket-activate takes
    // no port 0); taken meanwhile by another program, we try another.
    for attempt in 0.. {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let _ = std::fs::remove_file(&path);
        let mut child = Reaped(
            Command::new(&activator)
                .arg("-l")
                .arg(&path)
                .arg("-l")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--fdname=ctl:web")
                .arg(&example)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start systemd-socket-activate"),
        );
        // Ready once it says it listens on both (its own words on stderr).
        let mut stderr = BufReader::new(child.0.stderr.take().unwrap());
        let mut listening = 0;
        let mut said = String::new();
        while listening < 2 {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break;
            }
            listening += usize::from(line.starts_with("Listening on"));
            said.push_str(&line);
        }
        if listening < 2 {
            let status = child.0.wait().unwrap();
            assert!(
                attempt < 5,
                "systemd-socket-activate failed ({status}): {said}"
            );
            continue;
        }
        // The first connection starts the example; it answers on each
        // listener in order with the name and kind it was given.
        let ctl = UnixStream::connect(&path).unwrap();
        ctl.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(read_reply(&ctl), "ctl UnixListener\n");
        let web = TcpStream::connect(("127.0.0.1", port)).unwrap();
        web.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(read_reply(&web), "web TcpListener\n");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the example did not exit");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut out = String::new();
        child
            .0
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert!(status.success(), "{status}: {out}{said}{rest}");
        assert_eq!(
            out,
            "2 descriptors; LISTEN_* left in the environment: 0\n\
             ctl UnixListener\nweb TcpListener\n"
        );
        break;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
