use std::time::{Duration, SystemTime};

use super::*;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn the_right_passcode_gives_back_the_same_key_and_a_wrong_one_is_counted() {
    let tmp = dir();
    let vault = Vault::at(tmp.path());
    assert_eq!(vault.state().unwrap(), LockState::New);
    let key = vault.set_up(Some("correct horse")).unwrap();
    assert_eq!(vault.state().unwrap(), LockState::Passcode);
    let sealed = key.seal(b"row", b"what I was feeling");

    let err = vault.unlock("wrong horse").unwrap_err();
    assert!(matches!(err, VaultError::WrongPasscode { wait: None, tries_before_wait: 4 }), "{err:?}");
    assert_eq!(vault.wrong_tries(), 1);

    let again = vault.unlock("correct horse").unwrap();
    assert_eq!(again.open(b"row", &sealed).unwrap(), b"what I was feeling");
    assert_eq!(vault.wrong_tries(), 0, "a right passcode resets the count");
    assert!(matches!(vault.key_without_passcode(), Err(VaultError::Locked)));
}

#[test]
fn wrong_tries_earn_growing_waits_that_survive_a_restart() {
    let tmp = dir();
    Vault::at(tmp.path()).set_up(Some("246810")).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    for i in 1..=5 {
        let err = Vault::at(tmp.path()).unlock_at("000000", t0).unwrap_err();
        let expected = if i < 5 { None } else { Some(Duration::from_secs(30)) };
        assert!(matches!(err, VaultError::WrongPasscode { wait, .. } if wait == expected), "try {i}: {err:?}");
    }
    // A new process (a restart) still has to wait, even with the right passcode.
    let vault = Vault::at(tmp.path());
    let err = vault.unlock_at("246810", t0 + Duration::from_secs(10)).unwrap_err();
    assert!(matches!(err, VaultError::TooSoon(w) if w == Duration::from_secs(20)), "{err:?}");
    assert!(err.to_string().contains("try again in 20 s"), "{err}");
    // A clock set far back never makes the wait longer than the one earned.
    assert_eq!(vault.wait_at(t0 - Duration::from_secs(86_400)).unwrap(), Some(Duration::from_secs(30)));
    // After the wait, a sixth wrong try earns a minute.
    let t1 = t0 + Duration::from_secs(31);
    let err = vault.unlock_at("111111", t1).unwrap_err();
    assert!(matches!(err, VaultError::WrongPasscode { wait: Some(w), .. } if w == Duration::from_secs(60)), "{err:?}");
    assert!(vault.unlock_at("246810", t1 + Duration::from_secs(61)).is_ok());
    assert_eq!(vault.wrong_tries(), 0);
}

#[test]
fn the_waits_grow_and_never_wipe_anything() {
    let waits: Vec<_> = (1..=12).map(|n| wait_after(n).map(|d| d.as_secs())).collect();
    assert_eq!(
        waits,
        [
            None,
            None,
            None,
            None,
            Some(30),
            Some(60),
            Some(300),
            Some(900),
            Some(3600),
            Some(14_400),
            Some(28_800),
            Some(28_800)
        ]
    );
}

#[test]
fn changing_the_passcode_keeps_the_key_and_the_old_one_stops_working() {
    let tmp = dir();
    let vault = Vault::at(tmp.path());
    let key = vault.set_up(Some("first passphrase")).unwrap();
    vault.change(&key, Some("second passphrase")).unwrap();
    assert!(matches!(vault.unlock("first passphrase"), Err(VaultError::WrongPasscode { .. })));
    assert_eq!(vault.unlock("second passphrase").unwrap().bytes(), key.bytes());

    vault.change(&key, None).unwrap();
    assert_eq!(vault.state().unwrap(), LockState::NoPasscode);
    assert_eq!(vault.key_without_passcode().unwrap().bytes(), key.bytes());
    assert_eq!(open_without_passcode(tmp.path()).unwrap().bytes(), key.bytes());
}

#[test]
fn weak_passcodes_are_refused_with_the_reason() {
    for (weak, why) in [("12345", "6 digits"), ("", "empty"), ("short", "8 characters")] {
        let err = check_new_passcode(weak).unwrap_err();
        assert!(err.to_string().contains(why), "{weak:?}: {err}");
    }
    for good in ["123456", "a longer passphrase", "ünïcödé!"] {
        check_new_passcode(good).unwrap();
    }
    let tmp = dir();
    assert!(Vault::at(tmp.path()).set_up(Some("12345")).is_err());
    assert_eq!(Vault::at(tmp.path()).state().unwrap(), LockState::New, "a refused passcode sets up nothing");
}

#[test]
fn a_damaged_key_file_is_reported_and_left_as_it_is() {
    let tmp = dir();
    std::fs::write(tmp.path().join(KEY_FILE), b"{not json").unwrap();
    let err = Vault::at(tmp.path()).unlock("whatever passcode").unwrap_err();
    assert!(matches!(err, VaultError::BadKeyFile { .. }), "{err:?}");
    assert_eq!(std::fs::read(tmp.path().join(KEY_FILE)).unwrap(), b"{not json");
}

#[test]
fn sealed_values_open_only_where_they_were_written() {
    let key = DataKey::random();
    let sealed = key.seal(b"private_entries\0id-1", b"words");
    assert!(key.open(b"private_entries\0id-2", &sealed).is_err(), "moved to another row");
    assert!(DataKey::random().open(b"private_entries\0id-1", &sealed).is_err(), "another key");
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(key.open(b"private_entries\0id-1", &flipped).is_err(), "damaged");
    assert!(key.open(b"x", &[0u8; 3]).is_err(), "too short");
    assert_ne!(key.seal(b"a", b"same"), key.seal(b"a", b"same"), "a fresh nonce each time");
    assert_eq!(key.lookup_tag(b"2026-11-27"), key.lookup_tag(b"2026-11-27"));
    assert_ne!(key.lookup_tag(b"2026-11-27"), DataKey::random().lookup_tag(b"2026-11-27"));
}

#[cfg(unix)]
#[test]
fn the_folder_and_the_key_file_are_this_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = dir();
    let data = tmp.path().join("journal");
    Vault::at(&data).set_up(None).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join(KEY_FILE)), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from(KEY_FILE)], "no partial file is left behind");
}
