//! Bytes on disk per entry after compaction, and the peak memory (RSS) of opening 10,000
//! entries and listing them, measured in a fresh process. Then the same journal with a
//! shared document stored at 1 GiB, more than Steady opens: the peak memory of opening
//! and listing it, and of ending the pairing. Prints one line per figure.

mod fixture;

use std::process::Command;

use steady::store::{DB_FILE, Store};

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = fixture::ten_thousand();
    if std::env::args().any(|a| a == "--open-and-list") {
        let (_store, entries) =
            Store::open_dir_with_entries(&dir, &steady::vault::open_without_passcode(&dir).unwrap()).unwrap();
        let n = entries.len();
        println!("{n} {}", peak_rss_kib());
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let [_, step, at] = &args[..]
        && (step == "--open-big" || step == "--unpair-big")
    {
        let at = std::path::Path::new(at);
        let key = steady::vault::open_without_passcode(at).unwrap();
        let started = std::time::Instant::now();
        let (mut store, entries) = Store::open_dir_with_entries(at, &key).unwrap();
        let mut took = started.elapsed();
        if step == "--unpair-big" {
            let started = std::time::Instant::now();
            store.end_couple("Sam").unwrap();
            took = started.elapsed();
        }
        println!("{} {} {}", entries.len(), peak_rss_kib(), took.as_millis());
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` asks which benchmarks exist.
        return;
    }
    let bytes = std::fs::metadata(dir.join(DB_FILE)).unwrap().len();
    println!(
        "bytes on disk per entry after compaction: {:.0} B ({bytes} B for {} entries)",
        bytes as f64 / fixture::ENTRIES as f64,
        fixture::ENTRIES
    );
    let mut store = Store::open_dir_without_passcode(&dir).unwrap();
    let doc = store.document_bytes().unwrap();
    println!(
        "shared document per shared entry, as exported (not compressed): {:.0} B ({} B for {} shared entries)",
        doc.len() as f64 / (fixture::ENTRIES / 2) as f64,
        doc.len(),
        fixture::ENTRIES / 2
    );
    drop(store);
    let out = Command::new(std::env::current_exe().unwrap()).arg("--open-and-list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let (n, kib) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("0").parse::<u64>().unwrap_or(0));
    println!("peak RSS of opening {n} entries and listing them: {:.1} MiB", kib as f64 / 1024.0);
    too_big(&dir);
}

/// A copy of the journal whose shared document grew to 1 GiB (one unreadable change row
/// per 64 MiB: Steady must not read them at all).
fn too_big(fixture: &std::path::Path) {
    const ROW: usize = 64 * 1024 * 1024;
    let copy = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(fixture).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), copy.path().join(file.file_name())).unwrap();
    }
    {
        let mut store = Store::open_dir_without_passcode(copy.path()).unwrap();
        let junk = vec![0x5a; ROW];
        for _ in 0..16 {
            store.append_unchecked_change(&junk).unwrap();
        }
    }
    let size = std::fs::metadata(copy.path().join(DB_FILE)).unwrap().len();
    for (step, what) in [("--open-big", "opening and listing"), ("--unpair-big", "ending the pairing of")] {
        let out = Command::new(std::env::current_exe().unwrap()).arg(step).arg(copy.path()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let parts: Vec<u64> = text.split_whitespace().filter_map(|p| p.parse().ok()).collect();
        let [n, kib, ms] = parts[..] else { panic!("{step}: {text} {}", String::from_utf8_lossy(&out.stderr)) };
        println!(
            "peak RSS of {what} {n} entries with a {:.2} GiB shared document: {:.1} MiB, in {ms} ms",
            size as f64 / (1u64 << 30) as f64,
            kib as f64 / 1024.0
        );
    }
    let after = std::fs::metadata(copy.path().join(DB_FILE)).unwrap().len();
    println!("journal file after ending that pairing: {:.1} MiB", after as f64 / (1u64 << 20) as f64);
}
