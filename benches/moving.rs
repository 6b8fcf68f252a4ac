//! A move to a new phone at 10,000 entries, on the bridge: the old phone A in one network
//! namespace runs `steady move out`, the new phone in another `steady move in CODE`; both
//! people say yes, and the time is taken from the second yes until `move in` has ended
//! (everything sent, every file checked, the data key sealed on the new phone, the journal
//! opened and its entries counted, the folder put in place) and until `move out` has ended
//! (the old phone's copy erased). Each answer is read a tenth of a second at most after it
//! is given, which the figures include. Needs root. Three moves, each of a fresh copy.
//!
//! `cargo bench --bench moving`

mod fixture;
#[path = "../tests/common/netns.rs"]
mod netns;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn app() -> String {
    std::env::var("STEADY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_steady").to_owned())
}

fn spawn(ns: &str, dir: &Path, args: &[&str]) -> (Child, std::sync::mpsc::Receiver<String>) {
    netns::spawn_in(ns, &app(), dir, args)
}

fn wait_for(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = lines.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no {prefix:?}"));
        if line.starts_with(prefix) {
            return line;
        }
    }
}

fn answer(dir: &Path) {
    let out = Command::new(app()).arg("--data-dir").arg(dir).args(["move", "confirm"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("template");
    drop(fixture::fill(&template, fixture::ENTRIES));
    let bytes: u64 = std::fs::read_dir(&template).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    let lan = netns::Lan::new(&["a", "n"]);
    for round in 0..3 {
        let (old_dir, new_dir) = (work.path().join(format!("old{round}")), work.path().join(format!("new{round}")));
        copy_dir(&template, &old_dir);
        let (mut old, old_lines) = spawn(&lan.ns("a"), &old_dir, &["move", "out"]);
        let code = wait_for(&old_lines, "code: ").trim_start_matches("code: ").to_owned();
        let (mut new, new_lines) = spawn(&lan.ns("n"), &new_dir, &["move", "in", &code, "--no-passcode"]);
        wait_for(&new_lines, "words: ");
        answer(&old_dir);
        answer(&new_dir);
        let start = Instant::now();
        let arrived = wait_for(&new_lines, "Steady has arrived");
        assert!(new.wait().unwrap().success());
        let new_done = start.elapsed();
        assert!(old.wait().unwrap().success());
        let old_done = start.elapsed();
        assert!(!old_dir.exists(), "the old phone's copy is erased");
        println!(
            "move of {} entries ({:.1} MB in the folder): `move in` done in {:.0} ms, `move out` (erased) in {:.0} ms \
             — {arrived}",
            fixture::ENTRIES,
            bytes as f64 / 1e6,
            new_done.as_secs_f64() * 1e3,
            old_done.as_secs_f64() * 1e3,
        );
    }
}
