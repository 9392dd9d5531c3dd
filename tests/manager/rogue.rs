//! A client that breaks the rules: the manager's handshake done by hand
//! (as src/manager/protocol.rs lays it out), its channel mapped raw, so a
//! test can truncate, grow, unmap or scribble on it, and connections that
//! never finish their handshake.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mproc::config::MANAGER_MESSAGE_BYTES;
use mproc::ipc::Connection;

pub const MAGIC: u32 = 0x6d70_6d67;
pub const VERSION: u32 = 1;
/// Where the message area starts in a channel.
pub const AREA: usize = 64;
/// A channel's length.
pub const CHANNEL: usize = AREA + MANAGER_MESSAGE_BYTES;
pub const IDLE: u32 = 0;
pub const REQUEST: u32 = 1;
pub const PENDING: u32 = 3;
pub const REPLY: u32 = 4;

pub const fn word(seq: u32, phase: u32) -> u32 {
    (seq << 3) | phase
}

/// A request header: object, generation, op, flags, len, then the two
/// type checks.
pub fn header(object: u32, generation: u32, op: u16, len: u32, fp: (u64, u64)) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[0..4].copy_from_slice(&object.to_le_bytes());
    h[4..8].copy_from_slice(&generation.to_le_bytes());
    h[8..10].copy_from_slice(&op.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    h[16..24].copy_from_slice(&fp.0.to_le_bytes());
    h[24..32].copy_from_slice(&fp.1.to_le_bytes());
    h
}

/// A connection made by hand: the socket, the channel's memfd and a
/// mapping of it.
pub struct Rogue {
    pub conn: Connection,
    pub memfd: OwnedFd,
    map: Option<*mut u8>,
}

/// Connects to `address` and says nothing.
pub fn silent(address: &str) -> Connection {
    mproc::ipc::client(address).unwrap()
}

/// The 16-byte hello of this build.
pub fn hello() -> [u8; 16] {
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..12].copy_from_slice(&(MANAGER_MESSAGE_BYTES as u32).to_le_bytes());
    h[12..16].copy_from_slice(&mproc::process::getpid().as_raw().to_le_bytes());
    h
}

/// Receives one message and the descriptor passed with it, if any.
fn recv_with_fd(fd: RawFd, buf: &mut [u8]) -> (isize, Option<OwnedFd>) {
    #[repr(C, align(8))]
    struct Control([u8; 64]);
    let mut control = Control([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all zero is an empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points at live buffers for the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    let mut passed = None;
    // SAFETY: walks the control data the kernel filled in.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if n > 0 && !cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
            let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
            passed = Some(OwnedFd::from_raw_fd(raw));
        }
    }
    (n, passed)
}

impl Rogue {
    /// Shakes hands by hand and maps the channel the server passed.
    pub fn connect(address: &str) -> Rogue {
        let conn = mproc::ipc::client(address).unwrap();
        conn.send_bytes(&hello()).unwrap();
        let mut welcome = [0u8; 64];
        let (n, memfd) = recv_with_fd(conn.as_raw_fd(), &mut welcome);
        assert_eq!(n, 16, "a welcome");
        assert_eq!(&welcome[4..8], &[0; 4], "the server accepted");
        let memfd = memfd.expect("the channel's memfd");
        // SAFETY: a fresh shared mapping of the memfd, unmapped on drop.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                CHANNEL,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                memfd.as_raw_fd(),
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        Rogue {
            conn,
            memfd,
            map: Some(map.cast()),
        }
    }

    /// `ftruncate` on the channel: what the kernel said.
    pub fn resize(&self, len: usize) -> std::io::Result<()> {
        // SAFETY: plain integer arguments on our own descriptor.
        if unsafe { libc::ftruncate(self.memfd.as_raw_fd(), len as libc::off_t) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Unmaps the channel in this process.
    pub fn unmap(&mut self) {
        if let Some(map) = self.map.take() {
            // SAFETY: mapped in `connect` with this length.
            unsafe { libc::munmap(map.cast(), CHANNEL) };
        }
    }

    /// The channel's state word.
    pub fn state(&self) -> &AtomicU32 {
        let map = self.map.expect("mapped");
        // SAFETY: the mapping is page-aligned and at least AREA bytes.
        unsafe { &*map.cast::<AtomicU32>() }
    }

    /// Writes `bytes` at `offset` of the channel (the state word included).
    pub fn write(&self, offset: usize, bytes: &[u8]) {
        let map = self.map.expect("mapped");
        assert!(offset + bytes.len() <= CHANNEL);
        // SAFETY: in bounds of the live mapping (checked above).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.add(offset), bytes.len()) };
    }

    /// Writes a request's header and arguments and publishes it as
    /// request `seq`, ringing the doorbell.
    pub fn request(&self, seq: u32, header: &[u8; 32], args: &[u8]) {
        self.write(AREA, header);
        self.write(AREA + 32, args);
        self.state().swap(word(seq, REQUEST), Ordering::SeqCst);
        self.ring();
    }

    /// Rings the server's doorbell (the server may have dropped us).
    pub fn ring(&self) {
        ring(&self.conn);
    }

    /// Waits up to `within` for the state word to hold `expected`.
    pub fn wait_state(&self, expected: u32, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.state().load(Ordering::SeqCst) == expected {
                return true;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        false
    }

    /// Whether the server closed this connection within `within`.
    pub fn dropped(&self, within: Duration) -> bool {
        closed(&self.conn, within)
    }
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// Sends a one-byte message, ignoring a peer that is gone.
pub fn ring(conn: &Connection) {
    // SAFETY: one byte from a live buffer; MSG_NOSIGNAL: no SIGPIPE.
    unsafe {
        libc::send(
            conn.as_raw_fd(),
            [1u8].as_ptr().cast(),
            1,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
}

/// Whether the other end of `conn` closed within `within` (messages
/// before the end are read and dropped).
pub fn closed(conn: &Connection, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: conn.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
        if ready > 0 {
            let mut buf = [0u8; 128];
            // SAFETY: a live buffer of its length.
            let n = unsafe {
                libc::recv(
                    conn.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n == 0
                || (n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN))
            {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// A small xorshift generator: garbage that a failing run can replay.
pub struct Garbage(pub u64);

impl Garbage {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// A reply's header: status, extra, len, a, b.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub len: u32,
    pub a: u64,
    pub b: u64,
}

impl Rogue {
    /// The reply header in the channel.
    pub fn reply(&self) -> Reply {
        let map = self.map.expect("mapped");
        let mut h = [0u8; 24];
        // SAFETY: in bounds of the live mapping.
        unsafe { std::ptr::copy_nonoverlapping(map.add(AREA), h.as_mut_ptr(), 24) };
        Reply {
            status: u16::from_le_bytes([h[0], h[1]]),
            len: u32::from_le_bytes(h[4..8].try_into().unwrap()),
            a: u64::from_le_bytes(h[8..16].try_into().unwrap()),
            b: u64::from_le_bytes(h[16..24].try_into().unwrap()),
        }
    }

    /// One well-formed call: request `seq`, wait for its reply, read it
    /// and leave the channel idle.
    pub fn call(&self, seq: u32, header: &[u8; 32], args: &[u8]) -> Reply {
        self.request(seq, header, args);
        assert!(
            self.wait_state(word(seq, REPLY), Duration::from_secs(10)),
            "the server replied"
        );
        let r = self.reply();
        self.state().store(word(seq, IDLE), Ordering::SeqCst);
        r
    }

    /// Opens the object published under `name` as `kind`: its number and
    /// generation.
    pub fn open(&self, seq: u32, kind: u16, name: &str, fp: (u64, u64)) -> (u32, u32) {
        let mut args = kind.to_le_bytes().to_vec();
        args.extend_from_slice(name.as_bytes());
        let r = self.call(seq, &header(0, 0, 2, args.len() as u32, fp), &args);
        assert_eq!(r.status, 0, "opened {name}");
        (r.a as u32, r.b as u32)
    }
}
