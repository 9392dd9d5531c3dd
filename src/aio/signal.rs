//! Signals from a [`SignalFd`] awaited, one by one or as a stream.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{io_error, register};
use crate::error::{Resource, Result};
use crate::signal::{SigInfo, SignalFd};

impl SignalFd {
    /// [`SignalFd::recv`], awaited (feature `tokio`). Dropping the
    /// future takes no signal.
    ///
    /// # Errors
    ///
    /// As [`SignalFd::recv`]; outside a tokio runtime,
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument).
    pub async fn recv_async(&self) -> Result<SigInfo> {
        const OP: &str = "SignalFd::recv_async";
        if let Some(info) = self.try_recv()? {
            return Ok(info);
        }
        let fd = register(OP, self.as_fd(), Interest::READABLE)?;
        loop {
            if let Some(info) = self.try_recv()? {
                return Ok(info);
            }
            let mut guard = fd
                .readable()
                .await
                .map_err(|e| io_error(OP, Resource::SignalSet, &e))?;
            guard.clear_ready();
        }
    }

    /// The signals as a `futures_core::Stream` (feature `tokio`): each
    /// signal of the set as it arrives, for `while let Some(s) =
    /// stream.next().await` in a daemon's async main loop.
    ///
    /// # Errors
    ///
    /// Outside a tokio runtime, [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument);
    /// the reactor's refusal of the descriptor.
    pub fn stream(&self) -> Result<SignalStream<'_>> {
        Ok(SignalStream {
            signals: self,
            fd: register("SignalFd::stream", self.as_fd(), Interest::READABLE)?,
        })
    }
}

/// The signals of a [`SignalFd`] as a `futures_core::Stream` (from
/// [`SignalFd::stream`]): never ends; an error of the read is an item.
pub struct SignalStream<'s> {
    signals: &'s SignalFd,
    fd: AsyncFd<OwnedFd>,
}

impl futures_core::Stream for SignalStream<'_> {
    type Item = Result<SigInfo>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.signals.try_recv() {
                Ok(Some(info)) => return Poll::Ready(Some(Ok(info))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            match this.fd.poll_read_ready(cx) {
                Poll::Ready(Ok(mut guard)) => guard.clear_ready(),
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Some(Err(io_error(
                        "SignalStream::poll_next",
                        Resource::Descriptor(this.fd.get_ref().as_raw_fd()),
                        &e,
                    ))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl std::fmt::Debug for SignalStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalStream")
            .field("signals", &self.signals)
            .finish()
    }
}
