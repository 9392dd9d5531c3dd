//! A manager's dict and list, changed by a child and printed by the
//! parent: the example of Python's documentation.
//!
//! ```python
//! from multiprocessing import Process, Manager
//!
//! def f(d, l):
//!     d[1] = '1'
//!     d['2'] = 2
//!     d[0.25] = None
//!     l.reverse()
//!
//! if __name__ == '__main__':
//!     with Manager() as manager:
//!         d = manager.dict()
//!         l = manager.list(range(10))
//!         p = Process(target=f, args=(d, l))
//!         p.start()
//!         p.join()
//!         print(d)                             # {1: '1', '2': 2, 0.25: None}
//!         print(l)                             # [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
//! ```
//!
//! # Mixed keys in a typed dict
//!
//! The dict mixes an `int`, a `str` and a `float` as keys and a `str`, an
//! `int` and `None` as values. A manager's dict has one key type and one
//! value type; with the `serde` feature they may be any serde type, so
//! the example defines [`Py`], an enum of `int` (`i64`), `float` (`f64`),
//! `str` (`String`, any length) and `None` that derives `Serialize` and
//! `Deserialize`, and makes the dict with `dict_serde` (at most 8
//! entries and 1 KiB of keys and values, chosen here). Its `Display` is
//! Python's `repr`, so the dict prints as Python prints it, in insertion
//! order.
//!
//! One difference stays: Python's `1`, `1.0` and `True` are one key (they
//! are equal and hash alike); here `Py::Int(1)` and `Py::Float(1.0)` are
//! two, as their encodings differ (the server compares keys by their
//! bytes).
//!
//! The list holds `i64`, at most ten (a manager's objects have a fixed
//! capacity): `manager.list(range(10))` is a list of ten and an `extend`.
//!
//! Run it with `cargo run --example manager_dict_list --features serde`.

use std::fmt;

use mproc::manager::{DictProxy, ListProxy, Manager, Serde};
use mproc::process::{self, Process};
use serde::{Deserialize, Serialize};

/// A Python object: `int`, `float`, `str` or `None`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub enum Py {
    /// `None`.
    None,
    /// An `int` that fits in 64 bits.
    Int(i64),
    /// A `float`.
    Float(f64),
    /// A `str`.
    Str(String),
}

impl Py {
    /// A `str`.
    pub fn str(text: &str) -> Py {
        Py::Str(text.to_string())
    }
}

/// Python's `repr` (a float in exponent form aside: `1e16` here,
/// `1e+16` in Python).
impl fmt::Display for Py {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Py::None => f.write_str("None"),
            Py::Int(i) => write!(f, "{i}"),
            Py::Float(x) if x.is_nan() => f.write_str("nan"),
            Py::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "inf" } else { "-inf" }),
            // `{:?}` keeps the `.0` of a whole number, as `repr` does.
            Py::Float(x) => write!(f, "{x:?}"),
            Py::Str(text) => {
                // Single quotes, unless the text has one and no double.
                let quote = if text.contains('\'') && !text.contains('"') {
                    '"'
                } else {
                    '\''
                };
                write!(f, "{quote}")?;
                for c in text.chars() {
                    match c {
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        c if c == quote => write!(f, "\\{c}")?,
                        c if c.is_control() => write!(f, "\\x{:02x}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                write!(f, "{quote}")
            }
        }
    }
}

/// `print(d)`: `{key: value, ...}` in insertion order.
fn dict_repr(items: &[(Py, Py)]) -> String {
    let entries: Vec<String> = items.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", entries.join(", "))
}

/// `print(l)`.
fn list_repr(items: &[i64]) -> String {
    format!("{items:?}")
}

/// The child's work.
fn f(d: &DictProxy<Py, Py, Serde>, l: &ListProxy<i64>) -> mproc::Result<()> {
    d.set(&Py::Int(1), &Py::str("1"))?;
    d.set(&Py::str("2"), &Py::Int(2))?;
    d.set(&Py::Float(0.25), &Py::None)?;
    l.reverse()
}

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::start()?;
    let d = manager.dict_serde::<Py, Py>(8, 1024)?;
    let l = manager.list::<i64>(10)?;
    l.extend(&(0..10).collect::<Vec<i64>>())?;

    let mut p = Process::new(|| {
        if let Err(e) = f(&d, &l) {
            eprintln!("f: {e}");
            process::exit(1);
        }
    });
    p.start()?;
    let code = p.join()?;
    if code != 0 {
        return Err(format!("the child exited with {code}").into());
    }

    let (d_text, l_text) = (dict_repr(&d.items()?), list_repr(&l.snapshot()?));
    println!("{d_text}");
    println!("{l_text}");
    if d_text != "{1: '1', '2': 2, 0.25: None}" || l_text != "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]" {
        return Err(format!("the child left d = {d_text}, l = {l_text}").into());
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
