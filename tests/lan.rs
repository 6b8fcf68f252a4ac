//! Three phones on one Wi-Fi, played by three network namespaces on a bridge that this
//! test makes (as root, with `ip netns` and veth pairs) and removes. mDNS runs only inside
//! them. Everything goes through the command line, the way a person would use it.

mod common;

use common::netns::Lan;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

fn spawn(lan: &Lan, phone: &str, dir: &Path, args: &[&str]) -> Running {
    let mut child = Command::new("ip")
        .args(["netns", "exec", &lan.ns(phone), env!("CARGO_BIN_EXE_steady"), "--data-dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("steady starts in the namespace");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Running { child, lines, seen: Vec::new() }
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    /// Waits for a line that starts with `prefix`.
    fn wait_for(&mut self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!("no line starting {prefix:?} within {limit:?}; saw {:#?}", self.seen),
            }
        }
    }

    /// Asks the process to stop as Ctrl-C would, and returns everything it printed.
    fn stop(mut self) -> Vec<String> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let _ = self.child.wait();
        self.seen.extend(self.lines.try_iter());
        std::mem::take(&mut self.seen)
    }

    fn finish(mut self, limit: Duration) -> (bool, Vec<String>, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process can be waited on") {
                std::thread::sleep(Duration::from_millis(50));
                self.seen.extend(self.lines.try_iter());
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return (status.success(), std::mem::take(&mut self.seen), err);
            }
            assert!(Instant::now() < deadline, "the process did not finish within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shared_texts(dir: &Path) -> BTreeSet<String> {
    common::list_json(dir)
        .into_iter()
        .filter(|e| e["shared"] == true)
        .map(|e| e["text"].as_str().or(e["feeling"].as_str()).unwrap_or_default().to_owned())
        .collect()
}

fn add_shared(dir: &Path, text: &str) {
    let id = common::ok(dir, &["add", "agreement", text]).trim().to_owned();
    common::ok(dir, &["share", &id]);
}

/// Polls until both phones hold the same shared entries and they include `expected`;
/// returns how long that took.
fn converge(a: &Path, b: &Path, expected: &BTreeSet<String>, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (sa, sb) = (shared_texts(a), shared_texts(b));
        if sa == sb && expected.is_subset(&sa) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "no convergence within {limit:?}:\nA {sa:#?}\nB {sb:#?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn phones_on_one_wifi_pair_sync_survive_a_dropped_link_and_ignore_a_stranger() {
    let lan = Lan::new(&["a", "b", "c"]);
    let (da, db, dc) = (TempDir::new().unwrap(), TempDir::new().unwrap(), TempDir::new().unwrap());
    common::ok(da.path(), &["init", "--name", "Alex", "--no-passcode"]);
    common::ok(db.path(), &["init", "--name", "Blair", "--no-passcode"]);
    common::ok(dc.path(), &["init", "--name", "Stranger", "--no-passcode"]);
    add_shared(db.path(), "Shared by Blair before pairing");
    add_shared(dc.path(), "The stranger's entry");

    // 1. Pair through the command line, found by mDNS.
    let mut invite = spawn(&lan, "a", da.path(), &["pair", "invite"]);
    let code = invite.wait_for("code: ", Duration::from_secs(10)).trim_start_matches("code: ").to_owned();
    assert!(code.len() == 9 && code.as_bytes()[4] == b'-', "{code}");
    let join = spawn(&lan, "b", db.path(), &["pair", "join", &code]);
    let (joined, join_out, join_err) = join.finish(Duration::from_secs(60));
    assert!(joined, "pair join failed: {join_err}");
    let (invited, invite_out, invite_err) = invite.finish(Duration::from_secs(10));
    assert!(invited, "pair invite failed: {invite_err}");
    let words = |out: &[String]| out.iter().find(|l| l.starts_with("words: ")).cloned().unwrap();
    assert_eq!(words(&join_out), words(&invite_out), "both screens show the same safety words");
    assert_eq!(words(&join_out).split(' ').count(), 5, "words: and four words");
    assert!(join_out.contains(&"paired with Alex".to_owned()));
    // Both people compare the words and confirm; until then nothing would sync.
    for dir in [da.path(), db.path()] {
        let status: serde_json::Value = serde_json::from_str(&common::ok(dir, &["status", "--json"])).unwrap();
        assert_eq!(status["pairing"], "unconfirmed");
        common::ok(dir, &["pair", "confirm"]);
    }

    // 2 and 3. Sync runs on both, and a stranger's phone is on the same network.
    let mut sync_a = spawn(&lan, "a", da.path(), &["sync", "--json"]);
    let sync_b = spawn(&lan, "b", db.path(), &["sync", "--json"]);
    let stranger = spawn(&lan, "c", dc.path(), &["pair", "invite"]);
    sync_a.wait_for(r#"{"event":"synced""#, Duration::from_secs(15));
    add_shared(da.path(), "Shared by Alex");
    add_shared(db.path(), "Shared by Blair");
    let mut expected: BTreeSet<String> =
        ["Shared by Blair before pairing", "Shared by Alex", "Shared by Blair"].map(str::to_owned).into();
    converge(da.path(), db.path(), &expected, Duration::from_secs(10));

    // 4. B drops off the Wi-Fi; both write; B comes back.
    lan.link("b", false);
    add_shared(da.path(), "Written by Alex while apart");
    add_shared(db.path(), "Written by Blair while apart");
    std::thread::sleep(Duration::from_secs(6));
    lan.link("b", true);
    expected.extend(["Written by Alex while apart", "Written by Blair while apart"].map(str::to_owned));
    let took = converge(da.path(), db.path(), &expected, Duration::from_secs(3));
    println!("converged {took:?} after the link came back");

    // The stranger tries the front door directly, with a made-up code.
    let a_address = sync_a.seen.iter().find(|l| l.contains(r#""listening","address":"10.47.0.1:"#)).cloned();
    let a_address = a_address.unwrap_or_else(|| panic!("A never said where it listens: {:#?}", sync_a.seen));
    let port = a_address.split("10.47.0.1:").nth(1).unwrap().trim_end_matches(['"', '}']).to_owned();
    let knock = spawn(
        &lan,
        "c",
        dc.path(),
        &["pair", "join", "2345-6789", "--no-discovery", "--addr", &format!("10.47.0.1:{port}")],
    );
    let (knocked, _, knock_err) = knock.finish(Duration::from_secs(30));
    println!("the stranger was told: {knock_err}");
    assert!(!knocked, "the stranger paired");
    assert!(!knock_err.is_empty());

    // 5. Alex pauses from the command line while the sync runs: within a second the
    // running sync stops, and what Blair shares waits until Alex resumes.
    common::ok(da.path(), &["pause"]);
    std::thread::sleep(Duration::from_secs(1));
    add_shared(db.path(), "Shared by Blair while Alex paused");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!shared_texts(da.path()).contains("Shared by Blair while Alex paused"), "nothing arrives while paused");
    common::ok(da.path(), &["resume"]);
    expected.insert("Shared by Blair while Alex paused".to_owned());
    let took = converge(da.path(), db.path(), &expected, Duration::from_secs(5));
    println!("caught up {took:?} after resuming");

    let out_a = sync_a.stop();
    let out_b = sync_b.stop();
    drop(stranger);
    let stranger_id: serde_json::Value = serde_json::from_str(&common::ok(dc.path(), &["status", "--json"])).unwrap();
    let stranger_id = stranger_id["peer_id"].as_str().unwrap().to_owned();
    for line in out_a.iter().chain(&out_b) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event["event"].is_string(), "{line}");
        if event["event"] == "connected" || event["event"] == "synced" || event["event"] == "discovered" {
            assert_ne!(event["peer"], stranger_id.as_str(), "{line}");
        }
    }
    for event in ["discovered", "connected", "synced", "disconnected"] {
        assert!(out_a.iter().chain(&out_b).any(|l| l.contains(&format!(r#""event":"{event}""#))), "no {event}");
    }
    assert_eq!(shared_texts(dc.path()), BTreeSet::from(["The stranger's entry".to_owned()]));
    assert_eq!(shared_texts(da.path()), expected);
    assert_eq!(shared_texts(db.path()), expected);
    let status: serde_json::Value = serde_json::from_str(&common::ok(db.path(), &["status", "--json"])).unwrap();
    assert_eq!(status["partner"]["name"], "Alex");
    assert!(status["last_synced"].is_string());
}
