//! The master: [`Server`] and its loop ([`Server::serve`],
//! [`Server::serve_with`]): signals, workers forked, reaped, replaced and
//! stopped, the connection timeout, the drain.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::board::{Board, MAX_WORKERS, SLOTS, WorkerInfo, WorkerState};
use super::builder::Overflow;
use super::listener::Listener;
use super::steer::{Command, Event, Stopped};
use super::upgrade::Upgrade;
use super::worker::{WorkerBody, WorkerContext};
use crate::daemon::{MainLoop, State, Status};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::ipc::WAIT_MAX;
use crate::process::{self, Fork, Pid};
use crate::shm::Shared;
use crate::signal::Signal;
use crate::sys::{self, listen as sysl, process as sysproc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Starting,
    Running,
    Reloading,
    Draining(Instant),
}

/// One worker, in the master's own table.
#[derive(Debug)]
pub(super) struct Worker {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    generation: u64,
    stopping: bool,
    /// Killed for overrunning the connection timeout (not yet reaped).
    killed: bool,
}

/// A pre-fork socket server: listeners opened by the master, workers
/// forked by it that accept on them, steered by signals.
///
/// ```no_run
/// use std::io::{Read, Write};
/// use mproc::daemon::MainLoop;
/// use mproc::server::{Listener, Server};
///
/// let main = MainLoop::new(Server::<()>::signals())?;
/// let mut server = Server::builder()
///     .listener(Listener::tcp("127.0.0.1:8080")?)
///     .workers(4)
///     .build(|mut conn| {
///         let mut msg = [0u8; 1024];
///         while let Ok(n @ 1..) = conn.read(&mut msg) {
///             msg[..n].make_ascii_uppercase();
///             if conn.write_all(&msg[..n]).is_err() {
///                 break;
///             }
///         }
///     })?;
/// server.serve(&main)?;
/// # Ok::<(), mproc::Error>(())
/// ```
#[derive(Debug)]
pub struct Server<B> {
    pub(super) body: B,
    pub(super) listeners: Vec<Listener>,
    pub(super) board: Shared<Board>,
    pub(super) ready: OwnedFd,
    pub(super) table: [Option<Worker>; SLOTS],
    pub(super) target: usize,
    pub(super) generation: u64,
    pub(super) phase: Phase,
    pub(super) grace: Duration,
    pub(super) connection_timeout: Option<Duration>,
    pub(super) kill_on_timeout: bool,
    pub(super) overflow: Overflow,
    /// Clients answered by the overflow policy.
    pub(super) turned_away: u64,
    /// No fork before this (a worker died before it was ready).
    pub(super) hold_forks_until: Option<Instant>,
    pub(super) tick: Duration,
    pub(super) forks: u64,
    pub(super) fork_failures: u64,
    pub(super) timeouts: u64,
    /// Connections finished by workers that are gone.
    pub(super) served_by_gone: u64,
    /// The pidfile and the binary upgrade (`USR2`).
    pub(super) upgrade: Upgrade,
}

impl<B: WorkerBody> Server<B> {
    /// Forks the workers and serves until a drain or a stop ends it,
    /// steered by the signals of `main` (see the module docs' table).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ThreadsRunning`] when the master runs other threads
    /// (workers are forked); as [`MainLoop::wait`]. A worker that cannot
    /// be forked later (`EAGAIN`) is tried again at the next tick.
    pub fn serve(&mut self, main: &MainLoop) -> Result<Stopped> {
        self.serve_with(main, |_, _| Command::Continue)
    }

    /// [`Server::serve`] with a hook called at each [`Event`], which may
    /// steer the server by what it returns: the place for `sd_notify`,
    /// a watchdog ping while [`Server::healthy`], a status line on
    /// `USR1`, or a test's own steering.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    pub fn serve_with(
        &mut self,
        main: &MainLoop,
        hook: impl FnMut(&Server<B>, Event) -> Command,
    ) -> Result<Stopped> {
        // This process is the master: it removes the Unix sockets' paths.
        for l in &mut self.listeners {
            l.adopt();
        }
        let end = self.serve_inner(main, hook);
        if end.is_err() {
            self.kill_all();
        }
        // An upgrade under way ends with the server (rolled back).
        let end = match end {
            Ok(end) => Ok(self.finish_upgrade(end)),
            Err(e) => {
                self.finish_upgrade(Stopped::Now);
                Err(e)
            }
        };
        for l in &mut self.listeners {
            l.remove_path();
        }
        end
    }

    fn serve_inner(
        &mut self,
        main: &MainLoop,
        mut hook: impl FnMut(&Server<B>, Event) -> Command,
    ) -> Result<Stopped> {
        if self.listeners.is_empty() {
            return Err(Error::new(
                "Server::serve",
                Resource::Server {
                    workers: self.target,
                },
                ErrorKind::InvalidArgument("the server has stopped: its listeners are closed"),
            ));
        }
        self.phase = Phase::Starting;
        self.reconcile()?;
        loop {
            let timeout = match self.phase {
                Phase::Draining(until) => self
                    .tick
                    .min(until.saturating_duration_since(Instant::now())),
                _ => self.tick,
            };
            let timeout = self.upgrade.timeout().map_or(timeout, |t| t.min(timeout));
            let (wake, first_listener) = {
                let mut fds: heapless::Vec<BorrowedFd<'_>, { WAIT_MAX - 1 }> = heapless::Vec::new();
                let _ = fds.push(self.ready.as_fd());
                for w in self.table.iter().flatten() {
                    if let Some(fd) = &w.pidfd {
                        let _ = fds.push(fd.as_fd());
                    }
                }
                for fd in self.upgrade.fds() {
                    let _ = fds.push(fd);
                }
                // Every worker busy and an answer set: the master takes
                // the excess.
                let first_listener = fds.len();
                if self.overflowing() {
                    for l in &self.listeners {
                        let _ = fds.push(l.as_fd());
                    }
                }
                (main.wait(&fds, Some(timeout))?, first_listener)
            };
            sys::event::lower(self.ready.as_fd());
            if wake.ready().iter().any(|i| i >= first_listener) {
                self.turn_away();
            }
            for info in wake.signals() {
                let cmd = match info.signal {
                    Signal::HUP => Command::Reload,
                    Signal::TTIN => Command::Grow,
                    Signal::TTOU => Command::Shrink,
                    Signal::TERM => Command::Drain,
                    Signal::INT | Signal::QUIT => Command::StopNow,
                    Signal::USR2 => Command::Upgrade,
                    _ => hook(self, Event::Signal(*info)),
                };
                if let Some(end) = self.apply(cmd, &mut hook)? {
                    return Ok(end);
                }
            }
            let cmd = self.watch_upgrade(&mut hook);
            if cmd != Command::Continue
                && let Some(end) = self.apply(cmd, &mut hook)?
            {
                return Ok(end);
            }
            self.reap();
            self.enforce_timeout();
            if let Some(end) = self.step(&mut hook)? {
                return Ok(end);
            }
            let cmd = hook(self, Event::Tick);
            if let Some(end) = self.apply(cmd, &mut hook)? {
                return Ok(end);
            }
        }
    }

    /// Moves the phases on: readiness, the end of a replacement, the end
    /// of a drain; forks and stops workers to match the target.
    fn step(
        &mut self,
        hook: &mut impl FnMut(&Server<B>, Event) -> Command,
    ) -> Result<Option<Stopped>> {
        match self.phase {
            Phase::Draining(until) => {
                if self.table.iter().all(Option::is_none) {
                    return Ok(Some(Stopped::Drained));
                }
                if Instant::now() >= until {
                    let killed = self.kill_all();
                    return Ok(Some(Stopped::GraceRanOut { killed }));
                }
                return Ok(None);
            }
            Phase::Starting | Phase::Reloading => {
                self.reconcile()?;
                if self.current_ready() {
                    if self.phase == Phase::Reloading {
                        // The new workers are up: the old ones stop.
                        for i in 0..SLOTS {
                            if self.table[i]
                                .as_ref()
                                .is_some_and(|w| w.generation < self.generation)
                            {
                                self.stop_worker(i);
                            }
                        }
                    }
                    let first = self.phase == Phase::Starting;
                    self.phase = Phase::Running;
                    note!(info, "ready: {} workers accept", self.target);
                    let cmd = hook(self, Event::Ready);
                    if first {
                        // A new master of an upgrade, ready (and said so
                        // to systemd in the hook): the old one may go.
                        self.upgrade.signal_ready();
                    }
                    return self.apply(cmd, hook);
                }
            }
            Phase::Running => self.reconcile()?,
        }
        Ok(None)
    }

    fn apply(
        &mut self,
        cmd: Command,
        hook: &mut impl FnMut(&Server<B>, Event) -> Command,
    ) -> Result<Option<Stopped>> {
        let draining = matches!(self.phase, Phase::Draining(_));
        match cmd {
            Command::Continue => {}
            Command::Upgrade => self.begin_upgrade(hook),
            _ if draining && cmd != Command::StopNow => {}
            Command::Reload => {
                if self.phase != Phase::Reloading {
                    self.generation += 1;
                    self.phase = Phase::Reloading;
                    note!(
                        info,
                        "reloading: new workers, the old ones finish their connections"
                    );
                    let _ = hook(self, Event::Reloading);
                    self.reconcile()?;
                }
            }
            Command::Grow => self.target = (self.target + 1).min(MAX_WORKERS),
            Command::Shrink => self.target = self.target.saturating_sub(1).max(1),
            Command::SetWorkers(n) => self.target = n.clamp(1, MAX_WORKERS),
            Command::Drain | Command::Retire => {
                if cmd == Command::Drain {
                    self.abort_upgrade(hook);
                }
                self.phase = Phase::Draining(Instant::now() + self.grace);
                // Drain: the kernel stops taking connections on the sockets
                // made here, in every process; the handed-in ones are
                // closed. Retire: every socket is only closed here, and
                // listens on in the other processes that hold it.
                for l in &mut self.listeners {
                    if cmd == Command::Drain {
                        l.shut();
                    } else {
                        l.forget_path();
                    }
                }
                self.listeners.clear();
                for i in 0..SLOTS {
                    self.stop_worker(i);
                }
                note!(
                    info,
                    "{}: the workers finish their connections (grace {:?})",
                    if cmd == Command::Drain {
                        "draining"
                    } else {
                        "retiring"
                    },
                    self.grace
                );
                let _ = hook(self, Event::Stopping);
            }
            Command::StopNow => {
                self.abort_upgrade(hook);
                for l in &mut self.listeners {
                    l.shut();
                }
                self.listeners.clear();
                let _killed = self.kill_all();
                note!(info, "stopping now: {_killed} workers killed");
                let _ = hook(self, Event::Stopping);
                return Ok(Some(Stopped::Now));
            }
        }
        if !matches!(self.phase, Phase::Draining(_)) {
            self.reconcile()?;
        }
        Ok(None)
    }

    /// Forks workers of the current generation up to the target, stops
    /// those beyond it.
    fn reconcile(&mut self) -> Result<()> {
        if matches!(self.phase, Phase::Draining(_)) {
            return Ok(());
        }
        let held = self
            .hold_forks_until
            .is_some_and(|until| Instant::now() < until);
        if !held {
            self.hold_forks_until = None;
        }
        let mut current = self.current_count();
        while !held && current < self.target {
            match self.spawn() {
                Ok(()) => current += 1,
                Err(e) if matches!(e.kind(), ErrorKind::ThreadsRunning { .. }) => return Err(e),
                Err(_) => {
                    // EAGAIN and the like: again at the next tick.
                    self.fork_failures += 1;
                    break;
                }
            }
        }
        while current > self.target {
            // The newest of the current generation, an idle one first.
            let pick = |idle: bool| {
                (0..SLOTS).rev().find(|&i| {
                    self.table[i].as_ref().is_some_and(|w| {
                        w.generation == self.generation
                            && !w.stopping
                            && (!idle || self.board.slots[i].state() != WorkerState::Serving)
                    })
                })
            };
            match pick(true).or_else(|| pick(false)) {
                Some(i) => self.stop_worker(i),
                None => break,
            }
            current -= 1;
        }
        Ok(())
    }

    fn current_count(&self) -> usize {
        self.table
            .iter()
            .flatten()
            .filter(|w| w.generation == self.generation && !w.stopping && !w.killed)
            .count()
    }

    /// Whether the workers of the current generation are all up.
    fn current_ready(&self) -> bool {
        self.current_count() >= self.target
            && self.table.iter().enumerate().all(|(i, w)| match w {
                Some(w) if w.generation == self.generation && !w.stopping => {
                    self.board.slots[i].state() != WorkerState::Starting
                }
                _ => true,
            })
    }

    /// Forks one worker of the current generation into a free slot.
    fn spawn(&mut self) -> Result<()> {
        let op = "Server::spawn";
        let Some(i) = self.table.iter().position(Option::is_none) else {
            return Err(Error::new(
                op,
                Resource::Capacity("server::MAX_WORKERS"),
                ErrorKind::CapacityExceeded { limit: SLOTS },
            ));
        };
        let slot = &self.board.slots[i];
        slot.reset();
        let parent = sysproc::getpid();
        match process::fork()? {
            Fork::Child(pid) => {
                // Dies with the master, by any cause.
                let armed = sysproc::set_parent_death_signal(Signal::KILL.as_raw()).is_ok();
                if !armed || sysproc::getppid() != parent {
                    process::exit(1);
                }
                // Its siblings' pidfds are the master's business.
                for w in self.table.iter_mut().flatten() {
                    w.pidfd = None;
                }
                slot.set_pid(pid);
                let busy_news = matches!(self.overflow, Overflow::Answer(_));
                let code = match WorkerContext::new(
                    &self.listeners,
                    slot,
                    self.ready.as_fd(),
                    busy_news,
                ) {
                    // A body that panics ends its worker (never unwinds
                    // into the master's loop, which this copy must not run).
                    Ok(ctx) => {
                        let mut ctx = ctx.with_connection_timeout(self.connection_timeout);
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.body.run(&mut ctx)
                        })) {
                            Ok(code) => code,
                            Err(payload) => {
                                std::mem::forget(payload);
                                101
                            }
                        }
                    }
                    Err(_) => 70,
                };
                // Connection processes it started finish first.
                process::join_children_of_fork(Pid::from_kernel(parent));
                process::exit(code)
            }
            Fork::Parent(pid) => {
                slot.set_pid(pid);
                self.forks += 1;
                self.table[i] = Some(Worker {
                    pid,
                    pidfd: sysproc::pidfd_open(pid.as_raw()).ok(),
                    generation: self.generation,
                    stopping: false,
                    killed: false,
                });
                Ok(())
            }
        }
    }

    /// Tells worker `i` to stop accepting (it finishes its connection).
    fn stop_worker(&mut self, i: usize) {
        if let Some(w) = &mut self.table[i]
            && !w.stopping
        {
            w.stopping = true;
            let _ = sysproc::kill(w.pid.as_raw(), Signal::TERM.as_raw());
        }
    }

    /// Reaps every worker that has ended.
    fn reap(&mut self) {
        for i in 0..SLOTS {
            let Some(w) = &self.table[i] else { continue };
            match process::try_waitpid(w.pid) {
                Ok(None) => {}
                // Ended (or reaped elsewhere: gone all the same).
                _ended @ (Ok(Some(_)) | Err(_)) => {
                    #[cfg(feature = "log")]
                    note_end(w, _ended.ok().flatten());
                    // Died before it was ever ready, unasked: its
                    // replacement waits for the next tick, so a worker that
                    // cannot start (out of descriptors, say) is not forked
                    // again and again in a tight loop.
                    if !w.stopping && self.board.slots[i].state() == WorkerState::Starting {
                        self.hold_forks_until = Some(Instant::now() + self.tick);
                    }
                    self.forget(i);
                }
            }
        }
    }

    fn forget(&mut self, i: usize) {
        let slot = &self.board.slots[i];
        self.served_by_gone += slot.served();
        slot.clear();
        self.table[i] = None;
    }

    /// Whether the master should take the connections beyond its busy
    /// workers: an answer is set, the server runs, and every worker of
    /// the current generation serves one.
    fn overflowing(&self) -> bool {
        matches!(self.overflow, Overflow::Answer(_))
            && matches!(self.phase, Phase::Running | Phase::Reloading)
            && self.current_count() > 0
            && self.table.iter().enumerate().all(|(i, w)| match w {
                Some(w) if w.generation == self.generation && !w.stopping && !w.killed => {
                    self.board.slots[i].state() == WorkerState::Serving
                }
                _ => true,
            })
    }

    /// Answers and closes the connections waiting while every worker is
    /// busy.
    fn turn_away(&mut self) {
        let Overflow::Answer(line) = self.overflow else {
            return;
        };
        for l in &self.listeners {
            while self.overflowing() {
                match sysl::accept_stream(l.as_fd()) {
                    Ok((fd, _)) => {
                        sysl::answer_and_close(fd, line);
                        self.turned_away += 1;
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Kills the workers whose connection ran past the timeout.
    fn enforce_timeout(&mut self) {
        let Some(limit) = self.connection_timeout.filter(|_| self.kill_on_timeout) else {
            return;
        };
        let now = sys::monotonic_ns();
        for i in 0..SLOTS {
            let Some(w) = &mut self.table[i] else {
                continue;
            };
            if w.killed {
                continue;
            }
            if self.board.slots[i].overrun(now, limit) {
                w.killed = true;
                self.timeouts += 1;
                let _ = sysproc::kill(w.pid.as_raw(), Signal::KILL.as_raw());
            }
        }
    }

    /// `SIGKILL`s every worker and reaps them; how many there were.
    fn kill_all(&mut self) -> usize {
        let mut killed = 0;
        for w in self.table.iter().flatten() {
            let _ = sysproc::kill(w.pid.as_raw(), Signal::KILL.as_raw());
            killed += 1;
        }
        for i in 0..SLOTS {
            if let Some(w) = &self.table[i] {
                let _ = process::waitpid(w.pid);
                self.forget(i);
            }
        }
        killed
    }
}

impl<B> Server<B> {
    /// Whether every worker wanted is alive and none has served its
    /// connection past the connection timeout (nor, for a worker serving
    /// many connections at once, gone longer than the timeout without a
    /// heartbeat from its event loop): what a watchdog asks before it
    /// pings (`WATCHDOG=1`).
    pub fn healthy(&self) -> bool {
        let now = sys::monotonic_ns();
        let alive = self
            .table
            .iter()
            .flatten()
            .filter(|w| w.generation == self.generation && !w.stopping && !w.killed)
            .count();
        let overrun = self.connection_timeout.is_some_and(|limit| {
            self.table
                .iter()
                .enumerate()
                .any(|(i, w)| w.is_some() && self.board.slots[i].overrun(now, limit))
        });
        alive >= self.target && !overrun
    }

    /// The workers alive (not yet reaped), old and new.
    pub fn workers(&self) -> impl Iterator<Item = WorkerInfo> + '_ {
        let now = sys::monotonic_ns();
        self.table.iter().enumerate().filter_map(move |(i, w)| {
            let w = w.as_ref()?;
            let slot = &self.board.slots[i];
            Some(WorkerInfo {
                pid: w.pid,
                state: slot.state(),
                connection_age: slot.connection_age(now),
                served: slot.served(),
                generation: w.generation,
                stopping: w.stopping,
                open: slot.open(),
                beat_age: slot.beat_age(now),
            })
        })
    }

    /// How many workers are wanted.
    pub fn target(&self) -> usize {
        self.target
    }

    /// Connections finished, by every worker since the start.
    pub fn served(&self) -> u64 {
        self.served_by_gone
            + self
                .table
                .iter()
                .enumerate()
                .filter(|(_, w)| w.is_some())
                .map(|(i, _)| self.board.slots[i].served())
                .sum::<u64>()
    }

    /// Workers forked since the start.
    pub fn forks(&self) -> u64 {
        self.forks
    }

    /// Workers killed for overrunning the connection timeout.
    pub fn timeouts(&self) -> u64 {
        self.timeouts
    }

    /// Clients answered by the [`Overflow::Answer`] policy and closed.
    pub fn turned_away(&self) -> u64 {
        self.turned_away
    }

    /// The listeners (until a drain or a stop closes them): their
    /// descriptors are what a re-executed master takes over.
    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    /// Copies the server's counters to a daemon [`Status`] board:
    /// `workers`, `target_workers`, `done` (connections finished),
    /// `forks`, `failed` (workers killed for overrunning the connection
    /// timeout), and the state.
    pub fn report(&self, status: &Status) {
        use std::sync::atomic::Ordering::Relaxed;
        status
            .workers
            .store(self.table.iter().flatten().count() as u32, Relaxed);
        status.target_workers.store(self.target as u32, Relaxed);
        status.done.store(self.served(), Relaxed);
        status.forks.store(self.forks, Relaxed);
        status.failed.store(self.timeouts, Relaxed);
        status.set_state(match self.phase {
            Phase::Starting => State::Starting,
            Phase::Running | Phase::Reloading => State::Running,
            Phase::Draining(_) => State::Draining,
        });
    }
}

/// The journal's line for a worker that ended: a warning unless it was
/// asked to stop.
#[cfg(feature = "log")]
fn note_end(w: &Worker, code: Option<i32>) {
    let pid = w.pid;
    if w.killed {
        ::log::warn!(
            target: "mproc::server",
            "worker {pid} killed: a connection passed the connection timeout; a new worker replaces it"
        );
    } else if w.stopping {
        ::log::debug!(target: "mproc::server", "worker {pid} stopped");
    } else {
        match code {
            Some(c) if c < 0 => ::log::warn!(
                target: "mproc::server",
                "worker {pid} killed by signal {}; a new worker replaces it",
                -c
            ),
            Some(c) => ::log::warn!(
                target: "mproc::server",
                "worker {pid} exited with status {c}; a new worker replaces it"
            ),
            None => ::log::warn!(
                target: "mproc::server",
                "worker {pid} is gone; a new worker replaces it"
            ),
        }
    }
}
