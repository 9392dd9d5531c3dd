//! A request left in flight, in steps that never block for long: sent
//! without waiting, its reply taken once it is there, the socket armed
//! for the server's doorbell, or the request withdrawn: what a
//! [`Detached`](crate::manager::Detached) proxy's waits are made of.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Link, Sent, Session, drain, read_reply, ring_if_parked, take_reply, wait_reply};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::manager::protocol::{PENDING, REPLY, Reply, Request, status, word};
use crate::sys::{self, Errno};

/// How long a withdrawal waits for the server's answer before it gives
/// the connection up (the server then forgets the request, and releases
/// what the connection held, when it sees the connection end).
const WITHDRAW_PATIENCE: Duration = Duration::from_secs(2);

/// An answer to a withdrawn request that crossed the withdrawal: the
/// server did what was asked. Its payload is in the buffer the caller
/// gave.
#[derive(Debug)]
pub(crate) struct Crossed {
    /// The reply's first number (a lock's "taken", 1).
    pub(crate) a: u64,
    /// The payload's length.
    pub(crate) len: usize,
}

impl Link {
    /// The session, which must be this process's (an async proxy belongs
    /// to the process that made it).
    fn own<'g>(
        &self,
        guard: &'g mut std::sync::MutexGuard<'_, Option<Session>>,
        op: &'static str,
    ) -> Result<&'g mut Session> {
        let me = sys::process::getpid();
        match guard.as_mut() {
            Some(s) if s.pid == me => Ok(s),
            Some(_) => Err(Error::new(
                op,
                self.resource(),
                ErrorKind::InvalidArgument(
                    "a detached or async proxy is used by the process that made it",
                ),
            )),
            None => Err(self.gone(op)),
        }
    }

    /// A duplicate of the connection's socket, for a reactor to watch:
    /// readable when the server rang (see [`Link::arm`]).
    pub(crate) fn socket(&self, op: &'static str) -> Result<OwnedFd> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        s.sock.as_fd().try_clone_to_owned().map_err(|e| {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32));
            Error::os(op, self.resource(), errno)
        })
    }

    /// Sends one request without waiting: its number.
    pub(crate) fn send(
        &self,
        op: &'static str,
        request: Request,
        fill: impl FnOnce(&mut [u8]) -> Result<usize>,
    ) -> Result<u32> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        match self.send_on(s, request, fill) {
            Ok(seq) => Ok(seq),
            Err(Sent::Not(e)) => Err(e),
            Err(Sent::Gone) => {
                *guard = None;
                Err(self.gone(op))
            }
        }
    }

    /// Whether the reply to request `seq` is there.
    pub(crate) fn ready(&self, seq: u32, op: &'static str) -> Result<bool> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        Ok(s.chan.load() == word(seq, REPLY))
    }

    /// Takes the reply to request `seq` (there: [`Link::ready`]) and
    /// decodes it.
    pub(crate) fn take<R>(
        &self,
        seq: u32,
        op: &'static str,
        resource: Resource,
        decode: impl FnOnce(&Reply, &[u8]) -> Result<R>,
    ) -> Result<R> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        take_reply(s, seq, op, resource, decode)
    }

    /// Before waiting for the socket: takes the doorbells rung, then
    /// raises this side's `parked` flag so the server rings when it
    /// answers. `true` when the reply came meanwhile (the flag is then
    /// lowered again). `Err` when the server is gone.
    pub(crate) fn arm(&self, seq: u32, op: &'static str) -> Result<bool> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        if drain(&s.sock).is_err() {
            *guard = None;
            return Err(self.gone(op));
        }
        s.chan.client_parked().swap(1, Ordering::SeqCst);
        let done = s.chan.load() == word(seq, REPLY);
        if done {
            s.chan.client_parked().store(0, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// After the socket was seen readable: lowers the `parked` flag.
    pub(crate) fn disarm(&self) {
        if let Some(s) = self.lock().as_ref() {
            s.chan.client_parked().store(0, Ordering::Relaxed);
        }
    }

    /// Withdraws request `seq` (its waiter went away) and waits, briefly,
    /// for the server to confirm. `Ok(None)`: withdrawn, nothing done;
    /// `Ok(Some(_))`: the server had answered it already, with the
    /// payload copied into `payload` (the caller undoes it); `Err`: the
    /// server did not answer in time or is gone, and the connection was
    /// dropped (the server releases what it held when it sees that).
    pub(crate) fn withdraw(
        &self,
        seq: u32,
        op: &'static str,
        payload: &mut Vec<u8>,
    ) -> Result<Option<Crossed>> {
        let mut guard = self.lock();
        let s = self.own(&mut guard, op)?;
        s.chan.client_parked().store(0, Ordering::Relaxed);
        let deadline = Instant::now() + WITHDRAW_PATIENCE;
        // A request not parked yet (being served, or not looked at) is
        // waited for until it is parked or answered.
        let answered = loop {
            let w = s.chan.load();
            if w == word(seq, REPLY) {
                break Ok(());
            }
            if w == word(seq, PENDING) {
                // A swap: the barrier before the look at the server's
                // flag (see the protocol's wake-up handshake).
                s.chan.withdraw().swap(w, Ordering::SeqCst);
                break ring_if_parked(s).and_then(|()| wait_reply(s, seq, Some(deadline)));
            }
            if Instant::now() >= deadline {
                break Err(());
            }
            std::thread::yield_now();
        };
        if answered.is_err() {
            *guard = None;
            return Err(self.gone(op));
        }
        let (reply, n) = read_reply(s, seq);
        if reply.status != status::OK {
            // Withdrawn, or answered with a refusal (a timeout, a
            // released object): nothing to undo.
            return Ok(None);
        }
        payload.clear();
        payload.extend_from_slice(&s.buf[..n]);
        Ok(Some(Crossed { a: reply.a, len: n }))
    }
}
