//! Two hosts as two network namespaces joined by a veth pair (`ip` from
//! iproute2, as root), for the tests and the namespaces bench. The
//! addresses are on the pair only: nothing leaves this machine.

use std::process::Command;

/// Two namespaces and the pair between them; removed when dropped.
pub struct Hosts {
    /// Namespace a's name.
    pub a: String,
    /// Namespace b's name.
    pub b: String,
}

/// Runs `ip args`.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// `10.213.<x>.1` in namespace a, `.2` in b.
    pub fn make(tag: u32) -> Result<Hosts, String> {
        let h = Hosts {
            a: format!("mpz-a-{tag}"),
            b: format!("mpz-b-{tag}"),
        };
        ip(&["netns", "add", &h.a])?;
        ip(&["netns", "add", &h.b])?;
        let (va, vb) = (format!("mza{tag}"), format!("mzb{tag}"));
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &h.a])?;
        ip(&["link", "set", &vb, "netns", &h.b])?;
        let x = tag % 250;
        ip(&[
            "-n",
            &h.a,
            "addr",
            "add",
            &format!("10.213.{x}.1/30"),
            "dev",
            &va,
        ])?;
        ip(&[
            "-n",
            &h.b,
            "addr",
            "add",
            &format!("10.213.{x}.2/30"),
            "dev",
            &vb,
        ])?;
        for (ns, dev) in [(&h.a, &va), (&h.b, &vb)] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(h)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // The pair goes with the namespaces.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}
