//! The lock on the command line, as a person (or a script) uses it: setting up with and
//! without a passcode, changing and removing it, files only this user can read, and a
//! journal of the earlier, unencrypted format sealed in place on its first unlock, with
//! `kill -9` at any moment of that and of a passcode change losing nothing.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{fails, fails_with, ok, ok_with, steady_with};
use steady::store::DB_FILE;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-v2");

fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|f| {
        let bytes = std::fs::read(f.path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle)
    })
}

fn earlier_journal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(Path::new(FIXTURE).join(DB_FILE), dir.path().join(DB_FILE)).unwrap();
    dir
}

/// The earlier version's `list --json` of the fixture, which the sealed journal must
/// match exactly.
fn expected_list() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(Path::new(FIXTURE).join("list.json")).unwrap()).unwrap()
}

fn list(dir: &Path, env: &[(&str, &str)]) -> serde_json::Value {
    serde_json::from_str(&ok_with(dir, &["list", "--json"], env)).unwrap()
}

/// Texts the earlier version wrote in the clear: private, set aside, shared, waiting, the
/// partner's, and the hex of the network key.
fn fixture_secrets(dir: &Path) -> Vec<Vec<u8>> {
    // Read without writing anything, not even SQLite's shared-memory file.
    let uri = format!("file:{}?immutable=1", dir.join(DB_FILE).display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
    let conn = rusqlite::Connection::open_with_flags(uri, flags).unwrap();
    let key: String = conn.query_row("SELECT value FROM meta WHERE key = 'setting.net.key'", [], |r| r.get(0)).unwrap();
    let mut out: Vec<Vec<u8>> = [
        "FIXTURE-PRIVATE-FEELING",
        "FIXTURE-PRIVATE-NEED",
        "FIXTURE-PRIVATE-SAFETY",
        "FIXTURE-SHARED-AGREEMENT",
        "FIXTURE-CHECKIN",
        "FIXTURE-PARTNER-AGREEMENT",
        "FIXTURE-WAITING-SHARE",
        "FIXTURE-WAITING-NOTE",
    ]
    .iter()
    .map(|t| t.as_bytes().to_vec())
    .collect();
    out.push(key.as_bytes()[key.len() - 64..].to_vec());
    out
}

/// Runs `steady` and kills it (SIGKILL) after `delay`, whatever it is doing then.
fn kill_after(dir: &Path, args: &[&str], env: &[(&str, &str)], delay: Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_steady"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_journal_of_the_earlier_format_is_sealed_on_its_first_unlock_and_keeps_everything() {
    let dir = earlier_journal();
    let d = dir.path();
    let secrets = fixture_secrets(d);
    for s in &secrets {
        assert!(on_disk(d, s), "the search finds {:?} in the earlier, unencrypted file", String::from_utf8_lossy(s));
    }
    // No passcode given: nothing happens, and it says how to go on.
    let before = common::snapshot_dir(d);
    let err = fails(d, &["list"]);
    assert!(err.contains("Steady is locked: give the passcode (STEADY_PASSCODE)"), "{err}");
    assert!(err.contains("earlier version"), "{err}");
    assert_eq!(common::snapshot_dir(d), before);

    let code = [("STEADY_PASSCODE", "first unlock 2026")];
    assert_eq!(list(d, &code), expected_list());
    for s in &secrets {
        assert!(!on_disk(d, s), "{:?} is still in the clear", String::from_utf8_lossy(s));
    }
    assert_eq!(list(d, &code), expected_list(), "and it opens again, the same");
    let wrong = fails_with(d, &["list"], &[("STEADY_PASSCODE", "not the passcode")]);
    assert!(wrong.contains("not right"), "{wrong}");
}

#[test]
fn killed_at_any_moment_while_sealing_the_earlier_format_it_loses_nothing() {
    let code = [("STEADY_PASSCODE", "first unlock 2026")];
    // How long the whole first unlock takes here, so the kills land all through it.
    let started = std::time::Instant::now();
    list(earlier_journal().path(), &code);
    let whole = started.elapsed();
    for step in 0..14u32 {
        let dir = earlier_journal();
        let d = dir.path();
        let delay = whole * step / 12;
        kill_after(d, &["list", "--json"], &code, delay);
        assert_eq!(list(d, &code), expected_list(), "killed after {delay:?}");
        for s in fixture_secrets(Path::new(FIXTURE)) {
            assert!(!on_disk(d, &s), "killed after {delay:?}: {:?} in the clear", String::from_utf8_lossy(&s));
        }
    }
}

#[test]
fn a_passcode_change_killed_at_any_moment_leaves_the_old_or_the_new_one_working() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut current = "passcode number 0".to_owned();
    ok_with(d, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", &current)]);
    ok_with(d, &["add", "agreement", "Walk on Sundays"], &[("STEADY_PASSCODE", &current)]);
    let expected = list(d, &[("STEADY_PASSCODE", &current)]);
    // How long one whole change takes on this machine (two Argon2id derivations), so the
    // kills below land all through it, and past its end.
    let started = std::time::Instant::now();
    let env = [("STEADY_PASSCODE", current.as_str()), ("STEADY_NEW_PASSCODE", "passcode number 0b")];
    ok_with(d, &["passcode", "change"], &env);
    let whole = started.elapsed();
    current = "passcode number 0b".to_owned();
    let mut changed = 0;
    // The last kill comes long after a change takes, so that on a busy machine, where
    // one may take longer than the one measured, at least one still finishes.
    for step in (1..=12u32).chain([40]) {
        let next = format!("passcode number {step}");
        let env = [("STEADY_PASSCODE", current.as_str()), ("STEADY_NEW_PASSCODE", next.as_str())];
        kill_after(d, &["passcode", "change"], &env, whole * step / 10);
        let old = steady_with(d, &["list", "--json"], &[("STEADY_PASSCODE", &current)]);
        if old.status.success() {
            assert_eq!(serde_json::from_slice::<serde_json::Value>(&old.stdout).unwrap(), expected);
        } else {
            assert_eq!(list(d, &[("STEADY_PASSCODE", &next)]), expected, "neither passcode opens it");
            current = next;
            changed += 1;
        }
    }
    assert!(changed > 0, "no change finished in time: the test kills too early to mean anything");
}

#[test]
fn setting_up_asks_for_a_passcode_or_a_plain_choice_to_go_without() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("journal");
    let err = fails(&d, &["init", "--name", "Alex"]);
    assert!(err.contains("STEADY_PASSCODE") && err.contains("--no-passcode"), "{err}");
    assert!(!d.join("steady.key").exists() && !d.join(DB_FILE).exists(), "nothing was written");
    let weak = fails_with(&d, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", "1234")]);
    assert!(weak.contains("at least 6 digits"), "{weak}");
    assert!(!d.join("steady.key").exists() && !d.join(DB_FILE).exists(), "nothing was written");

    let out = steady_with(&d, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", "135790")]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("If you forget this passcode"), "it says what happens");

    let plain = tempfile::tempdir().unwrap();
    let out = steady_with(plain.path(), &["init", "--name", "Blair", "--no-passcode"], &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Without a passcode"), "it says plainly what that means");
    ok(plain.path(), &["add", "checkin", "Plain-4e2b"]);
    assert!(!on_disk(plain.path(), b"Plain-4e2b"), "still encrypted without a passcode");
}

#[test]
fn a_passcode_can_be_changed_and_removed_and_set_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok_with(d, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", "first passcode")]);
    ok_with(d, &["add", "checkin", "Kept-7c1d"], &[("STEADY_PASSCODE", "first passcode")]);
    let missing = fails_with(d, &["passcode", "change"], &[("STEADY_PASSCODE", "first passcode")]);
    assert!(missing.contains("STEADY_NEW_PASSCODE"), "{missing}");
    ok_with(
        d,
        &["passcode", "change"],
        &[("STEADY_PASSCODE", "first passcode"), ("STEADY_NEW_PASSCODE", "second passcode")],
    );
    assert!(fails_with(d, &["list"], &[("STEADY_PASSCODE", "first passcode")]).contains("not right"));
    assert!(ok_with(d, &["list"], &[("STEADY_PASSCODE", "second passcode")]).contains("Kept-7c1d"));
    let said = ok_with(d, &["passcode", "remove"], &[("STEADY_PASSCODE", "second passcode")]);
    assert!(said.contains("Without a passcode"), "{said}");
    assert!(ok(d, &["list"]).contains("Kept-7c1d"));
    assert!(!on_disk(d, b"Kept-7c1d"));
    ok_with(d, &["passcode", "change"], &[("STEADY_NEW_PASSCODE", "third passcode")]);
    assert!(fails(d, &["list"]).contains("Steady is locked"));
    assert!(ok_with(d, &["list"], &[("STEADY_PASSCODE", "third passcode")]).contains("Kept-7c1d"));
}

/// Every value in the journal that could be sealed (a blob of 40 bytes or more, the
/// least a sealed value takes), from every column of every table.
fn sealed_values(dir: &Path) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..columns {
                if let rusqlite::types::ValueRef::Blob(b) = row.get_ref(i).unwrap()
                    && b.len() >= 40
                {
                    out.push(b.to_vec());
                }
            }
        }
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    out
}

/// Changing the passcode seals the journal again under a new data key: a copy of the old
/// key file, put back, with the old passcode, opens nothing, and no value the old key
/// sealed is left in any file.
#[test]
fn after_a_passcode_change_the_old_key_file_and_the_old_passcode_open_nothing() {
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("journal");
    let first = ("STEADY_PASSCODE", "first passcode");
    ok_with(&d, &["init", "--name", "Alex"], &[first]);
    let today = ok_with(&d, &["add", "checkin", "Rekey-91c2 a calm morning"], &[first]).trim().to_owned();
    let a = ok_with(&d, &["add", "agreement", "Walk on Sundays"], &[first]).trim().to_owned();
    ok_with(&d, &["checkin-agreement", &a, "kept", "--note", "Rain or not"], &[first]);
    ok_with(&d, &["share", &a], &[first]);
    ok_with(&d, &["add", "reflection", "--feeling", "Tense", "--needing", "A pause"], &[first]);
    let before = list(&d, &[first]);
    let old_key_file = std::fs::read(d.join("steady.key")).unwrap();

    let old_values = sealed_values(&d);
    assert!(old_values.len() >= 6, "the journal has sealed values: {}", old_values.len());
    for value in &old_values {
        assert!(on_disk(&d, value), "the search finds what the old key sealed before the change");
    }

    let said = ok_with(&d, &["passcode", "change"], &[first, ("STEADY_NEW_PASSCODE", "second passcode")]);
    assert!(said.contains("The passcode is changed"), "{said}");
    let second = ("STEADY_PASSCODE", "second passcode");
    assert_eq!(list(&d, &[second]), before, "everything is there under the new passcode");
    let left = old_values.iter().filter(|v| on_disk(&d, v)).count();
    assert_eq!(left, 0, "{left} values sealed with the old key are still on disk");
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().contains("next")), "{names:?}");
    // Today's check-in is still found by its tag, made again under the new key.
    assert_eq!(ok_with(&d, &["add", "checkin", "Rekey-91c2 and an evening"], &[second]).trim(), today);

    // The old key file put back, with the old passcode: refused in words.
    let new_key_file = std::fs::read(d.join("steady.key")).unwrap();
    std::fs::write(d.join("steady.key"), &old_key_file).unwrap();
    let err = fails_with(&d, &["list"], &[first]);
    assert!(err.contains("passcode was changed after this key file"), "{err}");
    // Edited to carry the new key's id, it unwraps the old key, which opens nothing.
    let mut forged: serde_json::Value = serde_json::from_slice(&old_key_file).unwrap();
    let new_json: serde_json::Value = serde_json::from_slice(&new_key_file).unwrap();
    forged["key_id"] = new_json["key_id"].clone();
    std::fs::write(d.join("steady.key"), serde_json::to_vec(&forged).unwrap()).unwrap();
    let err = fails_with(&d, &["list"], &[first]);
    assert!(err.contains("the key does not open"), "{err}");
    assert!(!err.contains("Rekey-91c2"));

    std::fs::write(d.join("steady.key"), &new_key_file).unwrap();
    assert!(ok_with(&d, &["list"], &[second]).contains("Rekey-91c2 and an evening"));
    // Removing the passcode is a change of key too.
    let kept = sealed_values(&d);
    ok_with(&d, &["passcode", "remove"], &[second]);
    assert!(kept.iter().all(|v| !on_disk(&d, v)), "removing the passcode seals everything again");
    assert!(ok(&d, &["list"]).contains("Rekey-91c2 and an evening"));
}

#[cfg(unix)]
#[test]
fn the_folder_is_0700_and_every_file_0600_exports_too() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("journal");
    let code = [("STEADY_PASSCODE", "924613")];
    ok_with(&d, &["init", "--name", "Alex"], &code);
    let id = ok_with(&d, &["add", "agreement", "Walk on Sundays"], &code).trim().to_owned();
    ok_with(&d, &["share", &id], &code);
    let _ = fails_with(&d, &["list"], &[("STEADY_PASSCODE", "000000")]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&d), 0o700);
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(names.iter().any(|p| p.ends_with("steady.tries")), "{names:?}");
    for path in &names {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    let out = base.path().join("exports");
    std::fs::create_dir(&out).unwrap();
    for (format, name) in [("json", "copy.json"), ("markdown", "copy.md"), ("automerge", "shared.automerge")] {
        let env = [code[0], ("STEADY_EXPORT_PASSPHRASE", "a passphrase for copies")];
        ok_with(&d, &["export", "--format", format, "--out", out.join(name).to_str().unwrap()], &env);
    }
    let mut written: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    written.sort();
    assert_eq!(written, ["copy.json.age", "copy.md.age", "shared.automerge"], "no temporary file is left");
    for name in &written {
        assert_eq!(mode(&out.join(name)), 0o600, "{name:?}");
    }
    let automerge = std::fs::read(out.join("shared.automerge")).unwrap();
    assert!(automerge::Automerge::load(&automerge).is_ok(), "the shared document stays plain Automerge");
}

#[test]
fn an_export_is_sealed_with_a_passphrase_of_its_own_never_the_passcode() {
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("journal");
    let code = ("STEADY_PASSCODE", "924613");
    ok_with(&d, &["init", "--name", "Alex"], &[code]);
    ok_with(&d, &["add", "checkin", "Sealed-4f0e on its own"], &[code]);
    let file = base.path().join("copy.json");
    let sealed = base.path().join("copy.json.age");

    // The passcode alone does not seal a copy: asked for a passphrase, nothing is written.
    let err = fails_with(&d, &["export", "--format", "json", "--out", file.to_str().unwrap()], &[code]);
    assert!(err.contains("passphrase of its own") && err.contains("nothing was written"), "{err}");
    assert!(!sealed.exists() && !file.exists());
    // Nor does a short one.
    let short = [code, ("STEADY_EXPORT_PASSPHRASE", "short")];
    let err = fails_with(&d, &["export", "--format", "json", "--out", file.to_str().unwrap()], &short);
    assert!(err.contains("at least 8"), "{err}");
    assert!(!sealed.exists());

    let pass = ("STEADY_EXPORT_PASSPHRASE", "a passphrase for copies");
    ok_with(&d, &["export", "--format", "json", "--out", file.to_str().unwrap()], &[code, pass]);
    let bytes = std::fs::read(&sealed).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert!(!bytes.windows(11).any(|w| w == b"Sealed-4f0e"));

    // The journal's passcode does not open the copy; its own passphrase does.
    let elsewhere = tempfile::tempdir().unwrap();
    let with_passcode = [("STEADY_EXPORT_PASSPHRASE", code.1)];
    let err = fails_with(elsewhere.path(), &["import", sealed.to_str().unwrap(), "--no-passcode"], &with_passcode);
    assert!(err.contains("does not open"), "{err}");
    assert!(!elsewhere.path().join(DB_FILE).exists(), "a refused import makes no journal");
    ok_with(elsewhere.path(), &["import", sealed.to_str().unwrap(), "--no-passcode"], &[pass]);
    assert!(ok(elsewhere.path(), &["list"]).contains("Sealed-4f0e"));
}

#[cfg(unix)]
#[test]
fn an_export_never_writes_through_a_symlink() {
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("journal");
    ok(&d, &["init", "--name", "Alex", "--no-passcode"]);
    let elsewhere = base.path().join("someone-elses-file");
    std::fs::write(&elsewhere, b"not yours").unwrap();
    let link = base.path().join("copy.json");
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    ok(&d, &["export", "--format", "json", "--plaintext", "--out", link.to_str().unwrap()]);
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"not yours", "the file the link pointed at is untouched");
    assert!(!std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
}

/// Whatever the person's umask, the journal's folder is theirs alone and every file in
/// it, SQLite's write-ahead log and shared memory too, while the journal is open.
#[cfg(unix)]
#[test]
fn under_a_umask_of_000_every_file_is_0600_while_the_journal_is_open() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("journal");
    let steady = env!("CARGO_BIN_EXE_steady");
    let under_umask = |args: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask 000; exec \"$0\" --data-dir \"$1\" {args}"))
            .arg(steady)
            .arg(&d)
            .env("STEADY_PASSCODE", "924613")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    assert!(under_umask("init --name Alex").wait().unwrap().success());
    assert!(under_umask("add agreement 'Walk on Sundays'").wait().unwrap().success());
    // A command that keeps the journal open: an invite, waiting for the partner.
    let mut open = under_umask("pair invite --no-discovery --listen 127.0.0.1:0");
    let wal = d.join(format!("{}-wal", steady::store::DB_FILE));
    let shm = d.join(format!("{}-shm", steady::store::DB_FILE));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !(wal.exists() && shm.exists()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let names: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
    let _ = open.kill();
    let _ = open.wait();
    assert!(names.contains(&wal) && names.contains(&shm), "the journal is open, with its log: {names:?}");
    assert_eq!(mode(&d), 0o700);
    for path in &names {
        assert_eq!(mode(path), 0o600, "{} while the journal is open", path.display());
    }
}

/// Whether the memory of process `pid`, every region it can read, holds `needle`.
fn in_memory(pid: u32, needle: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    maps.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else { return false };
        let Some((from, to)) = range.split_once('-') else { return false };
        let (from, to) = (u64::from_str_radix(from, 16).unwrap(), u64::from_str_radix(to, 16).unwrap());
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            return false;
        }
        let mut region = vec![0; (to - from) as usize];
        if mem.seek(SeekFrom::Start(from)).is_err() || mem.read_exact(&mut region).is_err() {
            return false;
        }
        memchr::memmem::find(&region, needle).is_some()
    })
}

/// A command that runs for long (here an invite, waiting for the partner) unlocks with
/// the passcode from STEADY_PASSCODE, and then holds it nowhere: not in its environment
/// (which `/proc/PID/environ` shows to every process of the same user), not in its
/// memory. The same dump first finds another variable of its environment, so that it
/// can't pass by reading nothing.
#[cfg(target_os = "linux")]
#[test]
fn a_running_command_holds_the_passcode_nowhere_in_memory_once_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let passcode = "Passcode-in-memory-8e2c41";
    let marker = "Marker-in-memory-3b9f07";
    ok_with(d, &["init", "--name", "Alex"], &[("STEADY_PASSCODE", passcode)]);
    let mut invite = Command::new(env!("CARGO_BIN_EXE_steady"))
        .arg("--data-dir")
        .arg(d)
        .args(["pair", "invite", "--no-discovery", "--listen", "127.0.0.1:0"])
        .env("STEADY_PASSCODE", passcode)
        .env("STEADY_TEST_MARKER", marker)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(invite.stdout.take().unwrap()));
    let code = lines.next().unwrap().unwrap();
    assert!(code.starts_with("code: "), "it unlocked and waits: {code}");
    let pid = invite.id();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let has = |bytes: &[u8], text: &str| bytes.windows(text.len()).any(|w| w == text.as_bytes());
    assert!(has(&environ, marker), "the environment is read");
    assert!(!has(&environ, passcode), "the passcode is gone from its environment");
    assert!(in_memory(pid, marker.as_bytes()), "the dump finds the other variable");
    assert!(!in_memory(pid, passcode.as_bytes()), "the passcode is nowhere in its memory");
    let _ = invite.kill();
    let _ = invite.wait();
}
