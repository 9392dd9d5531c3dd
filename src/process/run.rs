//! A process defined by a type: Python's `Process` subclass that
//! overrides `run()`.

use super::Process;

/// The body of a process defined by a type of your own: Python's
/// `class MyProcess(Process)` overriding `run()`.
///
/// Implement `run`; [`Process::from_run`] (or the provided
/// [`into_process`](Run::into_process)) turns the value into a
/// [`Process`] whose target calls it in the forked child, with
/// everything the value holds (it travels by `fork`, as a closure's
/// captures do). Calling `value.run()` directly runs it in the current
/// process, as Python's `p.run()` does; it can be called again.
///
/// See the [module docs](super#a-process-defined-by-a-type) for the
/// Python it mirrors.
pub trait Run {
    /// What the process does (Python's overridden `Process.run`).
    fn run(&mut self);

    /// `Process::from_run(self)`: the value as a [`Process`], not yet
    /// started, named `Process-N`, not a daemon.
    fn into_process(self) -> Process<impl FnOnce()>
    where
        Self: Sized,
    {
        Process::from_run(self)
    }
}

impl Process<fn()> {
    /// A process whose target is `body.run()` (Python's instance of a
    /// `Process` subclass): named `Process-N`, not a daemon, set up and
    /// started as any [`Process`] ([`with_name`](Process::with_name),
    /// [`daemon`](Process::daemon), [`start`](Process::start), ...).
    ///
    /// `body` moves into the handle; at [`start`](Process::start) the
    /// child runs it and the parent drops its copy. What the parent should
    /// read back goes through shared memory, a pipe or a queue, as from
    /// any target.
    pub fn from_run<T: Run>(body: T) -> Process<impl FnOnce()> {
        let mut body = body;
        Process::new(move || body.run())
    }
}
