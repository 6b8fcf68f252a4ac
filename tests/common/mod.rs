//! Helpers shared by the integration tests: run the real `steady` binary on a data
//! directory, the way a person at a terminal would.
#![allow(dead_code)]

pub mod netns;

use std::path::Path;
use std::process::{Command, Output};

pub fn steady(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_steady"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("the steady binary runs")
}

/// Runs a command that must succeed, and returns its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = steady(dir, args);
    assert!(out.status.success(), "steady {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Runs a command that must fail, and returns what it said on standard error.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = steady(dir, args);
    assert!(!out.status.success(), "steady {args:?} should have failed");
    String::from_utf8(out.stderr).expect("errors are UTF-8")
}

pub fn list_json(dir: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&ok(dir, &["list", "--json"])).expect("list --json prints JSON")
}

/// Every file in `dir` with its bytes, to prove a failed command wrote nothing.
pub fn snapshot_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
