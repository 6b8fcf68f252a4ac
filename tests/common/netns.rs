//! A made-up Wi-Fi for tests and benchmarks: network namespaces on a bridge, made with
//! `ip netns` and veth pairs (as root) and removed however the run ends. Phone `i` gets
//! 10.47.0.(i+1) on its `eth0`. mDNS traffic stays on the bridge.
#![allow(dead_code)]

use std::process::Command;

/// Namespaces named for this process, removed however the test ends.
pub struct Lan {
    prefix: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("iproute2's `ip` runs");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Lan {
    pub fn new(phones: &[&str]) -> Lan {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "this test makes network namespaces and must run as root (scripts/test.sh does)"
        );
        // Each Lan its own names, so tests in one process don't share a bridge.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("st{}n{n}x", std::process::id());
        let lan = Lan { prefix };
        let bridge = lan.ns("br");
        ip(&["netns", "add", &bridge]);
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        ip(&["-n", &bridge, "link", "set", "br0", "up"]);
        for (i, phone) in phones.iter().enumerate() {
            let ns = lan.ns(phone);
            let port = format!("p{i}");
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns", &bridge]);
            ip(&["-n", &bridge, "link", "set", &port, "master", "br0"]);
            ip(&["-n", &bridge, "link", "set", &port, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("10.47.0.{}/24", i + 1), "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
        }
        lan
    }

    pub fn ns(&self, phone: &str) -> String {
        format!("{}{phone}", self.prefix)
    }

    pub fn link(&self, phone: &str, up: bool) {
        ip(&["-n", &self.ns(phone), "link", "set", "eth0", if up { "up" } else { "down" }]);
        if up {
            // Bringing a link up drops its routes; mDNS needs the multicast one back.
            let _ = Command::new("ip")
                .args(["-n", &self.ns(phone), "route", "replace", "224.0.0.0/4", "dev", "eth0"])
                .output();
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let out = Command::new("ip").args(["netns", "list"]).output().map(|o| o.stdout).unwrap_or_default();
        for line in String::from_utf8_lossy(&out).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(&self.prefix) {
                let _ = Command::new("ip").args(["netns", "del", name]).output();
            }
        }
    }
}

/// Moves the calling thread into a phone's namespace; threads it starts stay there.
pub fn enter(ns: &str) {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/var/run/netns/{ns}")).expect("the namespace exists");
    let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(done, 0, "setns into {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `program --data-dir DIR ARGS` inside the namespace `ns`, its standard output read
/// line by line on a thread of its own, its errors dropped.
pub fn spawn_in(
    ns: &str,
    program: &str,
    dir: &std::path::Path,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, program, "--data-dir"])
        .arg(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}
