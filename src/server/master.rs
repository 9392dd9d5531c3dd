//! The master: [`Builder`], [`Server`] and its loop ([`Server::serve`],
//! [`Server::serve_with`]).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::board::{Board, MAX_WORKERS, SLOTS, WorkerInfo, WorkerState};
use super::conn::Conn;
use super::listener::Listener;
use super::worker::{SyncWorker, WorkerBody, WorkerContext};
use crate::daemon::{MainLoop, State, Status};
use crate::error::{Error, ErrorKind, Resource, Result};
use crate::ipc::WAIT_MAX;
use crate::process::{self, Fork, Pid};
use crate::shm::Shared;
use crate::signal::{SigInfo, Signal};
use crate::sys::{self, process as sysproc};

/// The most listeners one server waits on.
pub const MAX_LISTENERS: usize = 16;

/// The grace period of a drain (`TERM`) when none is set: gunicorn's
/// `graceful_timeout`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How often the master looks at its workers when nothing wakes it.
pub const DEFAULT_TICK: Duration = Duration::from_secs(1);

/// Sets up a [`Server`]: `Server::builder().workers(4).listener(l).build(handler)`.
#[derive(Debug)]
pub struct Builder {
    workers: usize,
    listeners: Vec<Listener>,
    grace: Duration,
    connection_timeout: Option<Duration>,
    kill_on_timeout: bool,
    tick: Duration,
}

/// What happened, told to the hook of [`Server::serve_with`]: the points
/// where a systemd notifier says `READY=1`, `RELOADING=1`,
/// `STOPPING=1`, and pings its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Every worker waits for connections: after the start, and again
    /// once a replacement (`HUP`) has its new workers up.
    Ready,
    /// A replacement (`HUP`) begins.
    Reloading,
    /// A drain (`TERM`) or a quick stop (`INT`, `QUIT`) begins.
    Stopping,
    /// The master looked at its workers (at least every
    /// [`tick`](Builder::tick)): the watchdog's moment, with
    /// [`Server::healthy`].
    Tick,
    /// A signal of the main loop's set that the server does not take
    /// (`USR1`, say): the hook's to handle.
    Signal(SigInfo),
}

/// What the hook of [`Server::serve_with`] asks for: the same steering as
/// the signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Nothing.
    Continue,
    /// Replace every worker gracefully (`HUP`).
    Reload,
    /// One worker more (`TTIN`).
    Grow,
    /// One worker fewer, never fewer than one (`TTOU`).
    Shrink,
    /// This many workers (1 to [`MAX_WORKERS`]).
    SetWorkers(usize),
    /// Stop accepting, finish the connections within the grace period
    /// (`TERM`).
    Drain,
    /// Stop now: the workers are killed (`INT`, `QUIT`).
    StopNow,
}

/// How [`Server::serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Drained: every connection accepted was finished.
    Drained,
    /// The grace period ran out: this many workers were killed with the
    /// connection they served.
    GraceRanOut {
        /// Workers killed.
        killed: usize,
    },
    /// Stopped at once (`INT`, `QUIT`, [`Command::StopNow`]).
    Now,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Reloading,
    Draining(Instant),
}

/// One worker, in the master's own table.
#[derive(Debug)]
struct Worker {
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
    body: B,
    listeners: Vec<Listener>,
    board: Shared<Board>,
    ready: OwnedFd,
    table: [Option<Worker>; SLOTS],
    target: usize,
    generation: u64,
    phase: Phase,
    grace: Duration,
    connection_timeout: Option<Duration>,
    kill_on_timeout: bool,
    tick: Duration,
    forks: u64,
    fork_failures: u64,
    timeouts: u64,
    /// Connections finished by workers that are gone.
    served_by_gone: u64,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            workers: 1,
            listeners: Vec::new(),
            grace: DEFAULT_GRACE,
            connection_timeout: None,
            kill_on_timeout: true,
            tick: DEFAULT_TICK,
        }
    }
}

impl Builder {
    /// How many workers (1 by default, at most [`MAX_WORKERS`]). A sync
    /// worker serves one connection at a time: this is also how many
    /// connections are served at once.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = n;
        self
    }

    /// Adds a listener (at most [`MAX_LISTENERS`]); every worker accepts
    /// on all of them.
    pub fn listener(mut self, l: Listener) -> Builder {
        self.listeners.push(l);
        self
    }

    /// How long a drain (`TERM`) waits for the connections being served
    /// before it kills their workers ([`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Builder {
        self.grace = grace;
        self
    }

    /// The longest one connection may be served (none by default). A
    /// worker whose connection runs past it is killed (`SIGKILL`), its
    /// connection lost, and a fresh worker forked in its place (gunicorn's
    /// `timeout`): a handler stuck on a client that never reads or never
    /// writes cannot hold a worker for ever. Checked at every
    /// [`tick`](Builder::tick), which is shortened to a quarter of it.
    ///
    /// A worker that serves many connections at once (an async worker)
    /// is given the timeout ([`WorkerContext::connection_timeout`]) and
    /// cuts each of its connections past it itself; the master kills it
    /// (or reports it) when its event loop stops beating for longer than
    /// the timeout: the loop is wedged, and every connection in it is
    /// past its time.
    pub fn connection_timeout(mut self, timeout: Duration) -> Builder {
        self.connection_timeout = Some(timeout);
        self
    }

    /// Whether a worker that overruns the [connection
    /// timeout](Builder::connection_timeout) is killed and replaced (the
    /// default) or only reported: then [`Server::healthy`] is `false` for
    /// as long as it overruns, and a watchdog that pings only while the
    /// server is healthy lets the service manager restart the wedged
    /// service (systemd's `WatchdogSec=`).
    pub fn kill_on_timeout(mut self, kill: bool) -> Builder {
        self.kill_on_timeout = kill;
        self
    }

    /// How often the master looks at its workers when no signal or
    /// worker wakes it ([`DEFAULT_TICK`]); [`Event::Tick`] comes at least
    /// this often.
    pub fn tick(mut self, tick: Duration) -> Builder {
        self.tick = tick;
        self
    }

    /// The server whose sync workers call `handler` with each connection,
    /// one at a time. Nothing is forked yet.
    ///
    /// # Errors
    ///
    /// As [`Builder::build_with`].
    pub fn build<H: FnMut(Conn)>(self, handler: H) -> Result<Server<SyncWorker<H>>> {
        self.build_with(SyncWorker::new(handler))
    }

    /// The server whose workers run `body` (see [`WorkerBody`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CapacityExceeded`] for 0 or more than [`MAX_WORKERS`]
    /// workers, or more than [`MAX_LISTENERS`] listeners;
    /// [`ErrorKind::InvalidArgument`] without a listener or with a zero
    /// tick, grace or timeout; the kernel's refusal of the board's mapping
    /// or an eventfd.
    pub fn build_with<B: WorkerBody>(self, body: B) -> Result<Server<B>> {
        let op = "Server::build";
        let res = Resource::Server {
            workers: self.workers,
        };
        if self.workers == 0 || self.workers > MAX_WORKERS {
            return Err(Error::new(
                op,
                Resource::Capacity("server::MAX_WORKERS"),
                ErrorKind::CapacityExceeded { limit: MAX_WORKERS },
            ));
        }
        if self.listeners.len() > MAX_LISTENERS {
            return Err(Error::new(
                op,
                Resource::Capacity("server::MAX_LISTENERS"),
                ErrorKind::CapacityExceeded {
                    limit: MAX_LISTENERS,
                },
            ));
        }
        if self.listeners.is_empty() {
            return Err(Error::new(
                op,
                res,
                ErrorKind::InvalidArgument("a server needs at least one listener"),
            ));
        }
        if self.tick.is_zero()
            || self.grace.is_zero()
            || self.connection_timeout.is_some_and(|t| t.is_zero())
        {
            return Err(Error::new(
                op,
                res,
                ErrorKind::InvalidArgument("the tick, grace and connection timeout must not be 0"),
            ));
        }
        let board = Shared::<Board>::zeroed()?;
        let ready = sys::event::eventfd().map_err(|e| Error::os("eventfd", res, e))?;
        let tick = match self.connection_timeout {
            Some(t) => self.tick.min(t / 4).max(Duration::from_millis(1)),
            None => self.tick,
        };
        Ok(Server {
            body,
            listeners: self.listeners,
            board,
            ready,
            table: std::array::from_fn(|_| None),
            target: self.workers,
            generation: 0,
            phase: Phase::Starting,
            grace: self.grace,
            connection_timeout: self.connection_timeout,
            kill_on_timeout: self.kill_on_timeout,
            tick,
            forks: 0,
            fork_failures: 0,
            timeouts: 0,
            served_by_gone: 0,
        })
    }
}

impl Server<()> {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The signals a server takes by convention (gunicorn's and nginx's):
    /// `HUP`, `TTIN`, `TTOU`, `TERM`, `INT`, `QUIT`. Make the
    /// [`MainLoop`] with these (and any of your own, which come to the
    /// hook as [`Event::Signal`]).
    pub fn signals() -> crate::signal::SigSet {
        crate::signal::SigSet::from_signals(&[
            Signal::HUP,
            Signal::TTIN,
            Signal::TTOU,
            Signal::TERM,
            Signal::INT,
            Signal::QUIT,
        ])
    }
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
        self.phase = Phase::Starting;
        self.reconcile()?;
        loop {
            let timeout = match self.phase {
                Phase::Draining(until) => self
                    .tick
                    .min(until.saturating_duration_since(Instant::now())),
                _ => self.tick,
            };
            let wake = {
                let mut fds: heapless::Vec<BorrowedFd<'_>, { WAIT_MAX - 1 }> = heapless::Vec::new();
                let _ = fds.push(self.ready.as_fd());
                for w in self.table.iter().flatten() {
                    if let Some(fd) = &w.pidfd {
                        let _ = fds.push(fd.as_fd());
                    }
                }
                main.wait(&fds, Some(timeout))?
            };
            sys::event::lower(self.ready.as_fd());
            for info in wake.signals() {
                let cmd = match info.signal {
                    Signal::HUP => Command::Reload,
                    Signal::TTIN => Command::Grow,
                    Signal::TTOU => Command::Shrink,
                    Signal::TERM => Command::Drain,
                    Signal::INT | Signal::QUIT => Command::StopNow,
                    _ => hook(self, Event::Signal(*info)),
                };
                if let Some(end) = self.apply(cmd, &mut hook)? {
                    return Ok(end);
                }
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
                    self.phase = Phase::Running;
                    let cmd = hook(self, Event::Ready);
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
            _ if draining && cmd != Command::StopNow => {}
            Command::Reload => {
                if self.phase != Phase::Reloading {
                    self.generation += 1;
                    self.phase = Phase::Reloading;
                    let _ = hook(self, Event::Reloading);
                    self.reconcile()?;
                }
            }
            Command::Grow => self.target = (self.target + 1).min(MAX_WORKERS),
            Command::Shrink => self.target = self.target.saturating_sub(1).max(1),
            Command::SetWorkers(n) => self.target = n.clamp(1, MAX_WORKERS),
            Command::Drain => {
                self.phase = Phase::Draining(Instant::now() + self.grace);
                // The kernel stops taking connections on the sockets made
                // here, in every process; the handed-in ones are closed.
                for l in &mut self.listeners {
                    l.shut();
                }
                self.listeners.clear();
                for i in 0..SLOTS {
                    self.stop_worker(i);
                }
                let _ = hook(self, Event::Stopping);
            }
            Command::StopNow => {
                for l in &mut self.listeners {
                    l.shut();
                }
                self.listeners.clear();
                self.kill_all();
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
        let mut current = self.current_count();
        while current < self.target {
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
                let code = match WorkerContext::new(&self.listeners, slot, self.ready.as_fd()) {
                    Ok(ctx) => self
                        .body
                        .run(&mut ctx.with_connection_timeout(self.connection_timeout)),
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
                Ok(Some(_)) | Err(_) => self.forget(i),
            }
        }
    }

    fn forget(&mut self, i: usize) {
        let slot = &self.board.slots[i];
        self.served_by_gone += slot.served();
        slot.clear();
        self.table[i] = None;
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
