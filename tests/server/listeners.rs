//! Listeners: Unix stream sockets (path made and removed), several per
//! server, descriptors handed in (checked), `SO_REUSEPORT`.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use mproc::ErrorKind;
use mproc::process;
use mproc::server::{Family, Listener};
use mproc::signal::Signal;

use crate::common::isolated;
use crate::{DRAINED, Master, Opts, ask, client, tcp};

fn path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mproc-server-{tag}-{}.sock", process::getpid()))
}

#[test]
fn a_unix_listener_serves_and_its_path_goes_with_the_drain() {
    isolated(|| {
        let fds = crate::open_fds();
        let p = path("unix");
        let l = Listener::unix(&p).unwrap();
        assert_eq!(l.family(), Family::Unix);
        assert!(p.exists());
        // Taken: nothing is removed.
        let e = Listener::unix(&p).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{e}");
        let mut m = Master::start(l, Opts::default());
        let mut c = UnixStream::connect(&p).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(ask(&mut c, "over unix"), "OVER UNIX");
        m.signal(Signal::TERM);
        m.expect("stopping");
        assert!(!p.exists(), "the socket's path is still there");
        assert_eq!(ask(&mut c, "still served"), "STILL SERVED");
        drop(c);
        assert_eq!(m.join(), DRAINED);
        assert_eq!(crate::open_fds(), fds, "descriptors left open");
    });
}

#[test]
fn a_stale_socket_file_is_taken_over_a_live_one_or_another_file_is_not() {
    let p = path("stale");
    // Left by a listener that is gone (std leaves its file).
    drop(UnixListener::bind(&p).unwrap());
    assert!(p.exists());
    let l = Listener::unix(&p).unwrap();
    // Somebody listens: refused, left alone.
    let e = Listener::unix(&p).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{e}");
    assert!(p.exists());
    drop(l);
    std::fs::remove_file(&p).unwrap();
    // Not a socket: refused, left alone.
    std::fs::write(&p, b"not a socket").unwrap();
    let e = Listener::unix(&p).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{e}");
    assert_eq!(std::fs::read(&p).unwrap(), b"not a socket");
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn descriptors_handed_in_are_checked() {
    isolated(|| {
        // A std listener, handed in as a descriptor (as systemd would).
        let std = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std.local_addr().unwrap();
        let l = Listener::from_fd(OwnedFd::from(std)).unwrap();
        assert_eq!(l.family(), Family::Tcp);
        assert_eq!(l.local_addr(), Some(addr));
        let m = Master::start(l, Opts::default());
        let mut c = client(addr);
        assert_eq!(ask(&mut c, "handed in"), "HANDED IN");
        drop(c);
        m.signal(Signal::TERM);
        assert_eq!(m.join(), DRAINED);

        let p = path("from-fd");
        let u = UnixListener::bind(&p).unwrap();
        assert_eq!(
            Listener::from_fd(OwnedFd::from(u)).unwrap().family(),
            Family::Unix
        );
        std::fs::remove_file(&p).unwrap();
        // A connected socket is no listener; a file is no socket.
        let (a, _b) = UnixStream::pair().unwrap();
        let e = Listener::from_fd(OwnedFd::from(a)).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidArgument(_)), "{e}");
        let f = std::fs::File::open("/proc/self/stat").unwrap();
        let e = Listener::from_fd(OwnedFd::from(f)).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENOTSOCK), "{e}");
    });
}

#[test]
fn one_server_accepts_on_several_listeners() {
    isolated(|| {
        let p = path("both");
        let (t, addr) = tcp();
        let u = Listener::unix(&p).unwrap();
        let main_listeners = [t, u];
        let mut m = crate::Master::start_many(main_listeners, Opts::default());
        let mut a = client(addr);
        let mut b = UnixStream::connect(&p).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        assert_eq!(ask(&mut a, "tcp"), "TCP");
        assert_eq!(ask(&mut b, "unix"), "UNIX");
        drop((a, b));
        m.signal(Signal::TERM);
        m.expect("stopping");
        assert_eq!(m.join(), DRAINED);
        assert!(!p.exists());
    });
}

#[test]
fn a_retiring_master_leaves_its_listener_to_another_server() {
    isolated(|| {
        use std::os::fd::AsFd;
        let (l, addr) = tcp();
        let copy = Listener::from_fd(l.as_fd().try_clone_to_owned().unwrap()).unwrap();
        let one = Opts {
            workers: 1,
            ..Opts::default()
        };
        let mut a = Master::start(l, one);
        let b = Master::start(copy, one);
        a.signal(crate::retire_signal());
        a.expect("stopping");
        assert_eq!(a.join(), DRAINED);
        // Still listening: the other server answers.
        for i in 0..4 {
            let mut c = client(addr);
            assert_eq!(ask(&mut c, &format!("after {i}")), format!("AFTER {i}"));
        }
        b.signal(Signal::TERM);
        assert_eq!(b.join(), DRAINED);
        // Every copy closed: nobody listens.
        let refused = std::net::TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn reuse_port_lets_two_sockets_share_a_port() {
    let a = Listener::tcp_with("127.0.0.1:0", true, 16).unwrap();
    let addr = a.local_addr().unwrap();
    let b = Listener::tcp_with(addr, true, 16).unwrap();
    assert_eq!(b.local_addr(), Some(addr));
    let e = Listener::tcp(addr).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EADDRINUSE), "{e}");
}
