//! Helpers shared by the integration tests: run the real `steady` binary on a data
//! directory, the way a person at a terminal would.
#![allow(dead_code)]

pub mod netns;

use std::path::Path;
use std::process::{Command, Output};

pub fn steady(dir: &Path, args: &[&str]) -> Output {
    steady_with(dir, args, &[])
}

/// Runs `steady` with environment variables set, such as STEADY_PASSCODE.
pub fn steady_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steady"));
    command.arg("--data-dir").arg(dir).args(args).stdin(std::process::Stdio::null());
    for var in ["STEADY_PASSCODE", "STEADY_NEW_PASSCODE", "STEADY_EXPORT_PASSPHRASE"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied()).output().expect("the steady binary runs")
}

/// Like [`ok`], with environment variables set.
pub fn ok_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = steady_with(dir, args, env);
    assert!(out.status.success(), "steady {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("output is UTF-8")
}

/// Like [`fails`], with environment variables set.
pub fn fails_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = steady_with(dir, args, env);
    assert!(!out.status.success(), "steady {args:?} should have failed");
    String::from_utf8(out.stderr).expect("errors are UTF-8")
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

fn rules_for(s: &steady::store::Store) -> steady::store::PartnerRules {
    steady::store::PartnerRules { person: s.me().expect("set up").id, actors: vec![s.actor()], history: vec![] }
}

/// Syncs two paired stores in memory as the sync session does: each folds its outbox
/// just before it speaks, and checks what it receives against the rules. Runs until
/// neither has anything more to say.
pub fn sync_stores(a: &mut steady::store::Store, b: &mut steady::store::Store) {
    let (a_sees_b, b_sees_a) = (rules_for(b), rules_for(a));
    let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
    for _ in 0..50 {
        a.fold_outbox().unwrap();
        b.fold_outbox().unwrap();
        let (to_b, to_a) = (a.sync_message(&mut sa).unwrap(), b.sync_message(&mut sb).unwrap());
        if to_b.is_none() && to_a.is_none() {
            return;
        }
        if let Some(m) = to_b {
            b.receive_sync_message(&mut sb, m, &b_sees_a).unwrap();
        }
        if let Some(m) = to_a {
            a.receive_sync_message(&mut sa, m, &a_sees_b).unwrap();
        }
    }
    panic!("sync did not settle");
}
