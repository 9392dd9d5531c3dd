//! `os.fork`: the parent and the child each print their pid and the other's.
//!
//! ```python
//! import os
//! pid = os.fork()
//! if pid == 0:
//!     print(f"I am child process ({os.getpid()}) and my parent is ({os.getppid()})")
//!     os._exit(0)
//! else:
//!     print(f"I ({os.getpid()}) just created a child process ({pid})")
//!     os.waitpid(pid, 0)
//! ```

use mproc::process::{self, Fork};

/// Runs the scenario.
pub fn run() -> Result<(), Box<dyn std::error::Error>> {
    match process::fork()? {
        Fork::Child(me) => {
            println!(
                "I am child process ({me}) and my parent is ({})",
                process::getppid()
            );
            process::exit(0);
        }
        Fork::Parent(child) => {
            println!(
                "I ({}) just created a child process ({child})",
                process::getpid()
            );
            let code = process::waitpid(child)?;
            println!("child {child} exited with {code}");
        }
    }
    Ok(())
}

#[allow(dead_code)] // unused when the tour includes this file
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}
