//! Bytes on disk per entry after compaction, and the peak memory (RSS) of opening 10,000
//! entries and listing them, measured in a fresh process. Prints one line per figure.

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
}
