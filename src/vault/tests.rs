use std::sync::Arc;
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

/// A reading of the clocks: the wall clock at `wall` seconds since 1970, the boot-time
/// clock at `boot` seconds, in boot `id`.
fn at(wall: u64, boot: u64, id: &str) -> Now {
    Now {
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(wall),
        boot: Duration::from_secs(boot),
        boot_id: id.into(),
    }
}

#[test]
fn wrong_tries_earn_growing_waits_that_survive_a_restart() {
    let tmp = dir();
    Vault::at(tmp.path()).set_up(Some("246810")).unwrap();
    let t0 = 2_000_000_000;
    for i in 1..=5 {
        let err = Vault::at(tmp.path()).unlock_at("000000", &at(t0, 100, "boot-1")).unwrap_err();
        let expected = if i < 5 { None } else { Some(Duration::from_secs(30)) };
        assert!(matches!(err, VaultError::WrongPasscode { wait, .. } if wait == expected), "try {i}: {err:?}");
    }
    // A new process (a restart of the app) still has to wait, even with the right passcode.
    let vault = Vault::at(tmp.path());
    let err = vault.unlock_at("246810", &at(t0 + 10, 110, "boot-1")).unwrap_err();
    assert!(matches!(err, VaultError::TooSoon(w) if w == Duration::from_secs(20)), "{err:?}");
    assert!(err.to_string().contains("try again in 20 s"), "{err}");
    // A clock set far back never makes the wait longer than the one earned.
    assert_eq!(vault.wait_at(&at(t0 - 86_400, 110, "boot-1")).unwrap(), Some(Duration::from_secs(20)));
    // After the wait, a sixth wrong try earns a minute.
    let err = vault.unlock_at("111111", &at(t0 + 31, 131, "boot-1")).unwrap_err();
    assert!(matches!(err, VaultError::WrongPasscode { wait: Some(w), .. } if w == Duration::from_secs(60)), "{err:?}");
    assert!(vault.unlock_at("246810", &at(t0 + 92, 192, "boot-1")).is_ok());
    assert_eq!(vault.wrong_tries(), 0);
}

/// Setting the phone's date forward does not end a wait: it is measured on the boot-time
/// clock, which nobody can set. A restart of the phone starts the whole wait again.
#[test]
fn moving_the_clock_forward_or_restarting_the_phone_does_not_end_a_wait() {
    let tmp = dir();
    let vault = Vault::at(tmp.path());
    vault.set_up(Some("246810")).unwrap();
    let t0 = 2_000_000_000;
    for _ in 0..5 {
        let _ = vault.unlock_at("000000", &at(t0, 500, "boot-1"));
    }
    // A day later on the wall clock, two seconds later on the phone's own clock.
    let tomorrow = at(t0 + 86_400, 502, "boot-1");
    assert_eq!(vault.wait_at(&tomorrow).unwrap(), Some(Duration::from_secs(28)));
    assert!(matches!(vault.unlock_at("246810", &tomorrow), Err(VaultError::TooSoon(_))));
    // Restarted, and the date set forward: the whole wait again, counted from now.
    let restarted = at(t0 + 2 * 86_400, 3, "boot-2");
    assert_eq!(vault.wait_at(&restarted).unwrap(), Some(Duration::from_secs(30)));
    assert_eq!(vault.wait_at(&at(t0, 20, "boot-2")).unwrap(), Some(Duration::from_secs(13)));
    assert!(vault.unlock_at("246810", &at(t0, 34, "boot-2")).is_ok(), "the wait, waited, ends");
}

/// A key store that remembers what it is given, as a phone's does; with `forgetful`,
/// one that says it kept a secret and then does not give it back.
#[derive(Default)]
struct FakeKeystore {
    kept: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
    forgetful: bool,
}

impl Keystore for FakeKeystore {
    fn available(&self) -> bool {
        true
    }
    fn put(&self, what: Kept, key: &[u8; 32]) -> Result<(), String> {
        if !self.forgetful {
            self.kept.lock().unwrap().insert(format!("{what:?}"), *key);
        }
        Ok(())
    }
    fn get(&self, what: Kept) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        Ok(self.kept.lock().unwrap().get(&format!("{what:?}")).copied().map(Zeroizing::new))
    }
    fn remove(&self, what: Kept) -> Result<(), String> {
        self.kept.lock().unwrap().remove(&format!("{what:?}"));
        Ok(())
    }
}

/// With a passcode, the data key is reachable only through it: the phone's keystore holds
/// nothing, so a key file swapped for one that names the keystore opens nothing, and says
/// so. Without a passcode, the keystore holds the key, and the file only names it.
#[test]
fn with_a_passcode_the_keystore_holds_nothing_and_a_swapped_key_file_opens_nothing() {
    let tmp = dir();
    let keystore = Arc::new(FakeKeystore::default());
    let vault = Vault::with_keystore(tmp.path(), keystore.clone());
    let key = vault.set_up(None).unwrap();
    assert_eq!(
        keystore.get(Kept::DataKey).unwrap().map(|k| *k),
        Some(*key.bytes()),
        "without a passcode: in the keystore"
    );
    assert!(!std::fs::read_to_string(tmp.path().join(KEY_FILE)).unwrap().contains(&hex::encode(key.bytes())));
    // A change cut short before the journal is sealed again leaves the keystore as it was.
    vault.begin_change(Some("a passcode of our own")).unwrap();
    assert_eq!(
        keystore.get(Kept::DataKey).unwrap().map(|k| *k),
        Some(*key.bytes()),
        "a change not finished takes nothing"
    );
    vault.finish_change().unwrap();
    assert_eq!(keystore.get(Kept::DataKey).unwrap(), None, "with a passcode, the keystore holds nothing");
    // Swapped: the file now says the key is in the keystore.
    std::fs::write(tmp.path().join(KEY_FILE), r#"{"lock":"keystore","format":1}"#).unwrap();
    let refused = vault.key_without_passcode().unwrap_err();
    assert!(matches!(refused, VaultError::BadKeyFile { .. }), "{refused:?}");
    assert!(refused.to_string().contains("the key file was replaced"), "{refused}");
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
fn a_new_passcode_keeps_a_new_key_and_the_old_passcode_stops_working() {
    let tmp = dir();
    let vault = Vault::at(tmp.path());
    let key = vault.set_up(Some("first passphrase")).unwrap();
    let next = vault.begin_change(Some("second passphrase")).unwrap();
    assert_ne!(next.key.bytes(), key.bytes(), "a new data key");
    assert_eq!(vault.unlock("first passphrase").unwrap().bytes(), key.bytes(), "until it is finished");
    let next = vault.begin_change(Some("second passphrase")).unwrap();
    vault.finish_change().unwrap();
    assert!(matches!(vault.unlock("first passphrase"), Err(VaultError::WrongPasscode { .. })));
    assert_eq!(vault.unlock("second passphrase").unwrap().bytes(), next.key.bytes());

    let plain = vault.begin_change(None).unwrap();
    vault.finish_change().unwrap();
    assert_eq!(vault.state().unwrap(), LockState::NoPasscode);
    assert_eq!(vault.key_without_passcode().unwrap().bytes(), plain.key.bytes());
    assert_eq!(open_without_passcode(tmp.path()).unwrap().bytes(), plain.key.bytes());
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

/// The passcode's key derivation is pinned: Argon2id, version 1.3, 64 MiB, 12 passes, one
/// lane, 32 bytes. A change to any of them would leave every key file unopenable, so it
/// must be a migration, never an accident. The first vector is RFC 9106's for Argon2id,
/// through the same algorithm and version; the second pins this app's parameters.
#[test]
fn the_key_derivation_gives_known_answers() {
    use argon2::{Algorithm, Argon2, AssociatedData, ParamsBuilder, Version};
    let params = ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .data(AssociatedData::new(&[0x04; 12]).unwrap())
        .build()
        .unwrap();
    let rfc = Argon2::new_with_secret(&[0x03; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
    let mut tag = [0u8; 32];
    rfc.hash_password_into(&[0x01; 32], &[0x02; 16], &mut tag).unwrap();
    assert_eq!(hex::encode(tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
    assert_eq!(KDF, Kdf { memory_kib: 64 * 1024, iterations: 12, parallelism: 1 });
    let derived = KDF.derive("correct horse battery staple", &[7u8; 16]).unwrap();
    assert_eq!(hex::encode(&derived[..]), "a6a0dde9d785e8a455a0566ea2a1eaea1fd54bec5eba9311997980b0cb478ffd");
}

/// The cipher is pinned too: XChaCha20-Poly1305, and a sealed value is the 24-byte nonce,
/// then the ciphertext and its tag. The vector is draft-irtf-cfrg-xchacha's (A.3.1).
#[test]
fn the_cipher_gives_known_answers_and_lays_out_a_sealed_value_as_written() {
    let key: Vec<u8> = (0x80..=0x9f).collect();
    let nonce: Vec<u8> = (0x40..=0x57).collect();
    let aad = [0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7];
    let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let sealed_hex = "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e\
                      c0875924c1c7987947deafd8780acf49";
    let mut sealed = nonce.clone();
    sealed.extend(hex::decode(sealed_hex.replace([' ', '\\'], "")).unwrap());
    let key = DataKey::from_slice(&key).unwrap();
    assert_eq!(key.open(&aad, &sealed).unwrap(), plain);
    // What this app seals has the same layout: nonce, ciphertext, tag.
    let ours = key.seal(&aad, plain);
    assert_eq!(ours.len(), 24 + plain.len() + 16);
    assert_eq!(key.open(&aad, &ours).unwrap(), plain);
}

/// With a keystore, the passcode's lock is bound to the phone: the wrapping key is made
/// from the passcode and a secret only this phone's keystore holds. A copy of the folder,
/// with the right passcode, opens nothing elsewhere (so no guess can be made elsewhere),
/// says why, and counts no wrong try; on the phone it opens as before.
#[test]
fn with_a_keystore_a_copied_folder_opens_nothing_elsewhere_even_with_the_right_passcode() {
    let (phone, copy) = (dir(), dir());
    let keystore = Arc::new(FakeKeystore::default());
    let vault = Vault::with_keystore(phone.path(), keystore.clone());
    let key = vault.set_up(Some("246810")).unwrap();
    let file = std::fs::read_to_string(phone.path().join(KEY_FILE)).unwrap();
    assert!(file.contains(r#""format":2"#) && file.contains(r#""on_this_phone":true"#), "{file}");
    assert!(keystore.get(Kept::PasscodePepper).unwrap().is_some(), "the phone keeps its part");
    assert_eq!(keystore.get(Kept::DataKey).unwrap(), None, "and never the data key");
    assert_eq!(vault.unlock("246810").unwrap().bytes(), key.bytes(), "on the phone, the passcode opens it");

    // The folder copied (a backup restored, a debuggable build): the passcode alone.
    std::fs::copy(phone.path().join(KEY_FILE), copy.path().join(KEY_FILE)).unwrap();
    let elsewhere = Vault::with_keystore(copy.path(), Arc::new(FakeKeystore::default()));
    let refused = elsewhere.unlock("246810").unwrap_err();
    assert!(refused.to_string().contains("tied to the phone it was set on"), "{refused}");
    assert_eq!(elsewhere.wrong_tries(), 0, "no try was counted");
    // What an offline guesser would do with the file: Argon2id of the right passcode.
    let parsed: serde_json::Value = serde_json::from_str(&file).unwrap();
    let salt = hex::decode(parsed["salt"].as_str().unwrap()).unwrap();
    let wrapped = hex::decode(parsed["wrapped_key"].as_str().unwrap()).unwrap();
    let guess = KDF.derive("246810", &salt).unwrap();
    assert!(DataKey::from_bytes(&guess).open(WRAP_AAD, &wrapped).is_err(), "the right passcode alone opens nothing");

    // A passcode change keeps the phone's part; removing the passcode forgets it.
    let part = *keystore.get(Kept::PasscodePepper).unwrap().unwrap();
    vault.begin_change(Some("135790")).unwrap();
    vault.finish_change().unwrap();
    assert_eq!(keystore.get(Kept::PasscodePepper).unwrap().map(|p| *p), Some(part));
    assert!(vault.unlock("135790").is_ok());
    vault.begin_change(None).unwrap();
    vault.finish_change().unwrap();
    assert_eq!(keystore.get(Kept::PasscodePepper).unwrap(), None, "without a passcode, no part is kept");
}

/// A keystore that does not give back what it was given is found at set-up, before any
/// key file depends on it: the lock then rests on the passcode alone, and opens.
#[test]
fn a_keystore_that_does_not_keep_the_part_leaves_the_passcode_alone_and_locks_nobody_out() {
    let tmp = dir();
    let keystore = Arc::new(FakeKeystore { forgetful: true, ..FakeKeystore::default() });
    let vault = Vault::with_keystore(tmp.path(), keystore);
    let key = vault.set_up(Some("246810")).unwrap();
    let file = std::fs::read_to_string(tmp.path().join(KEY_FILE)).unwrap();
    assert!(file.contains(r#""format":1"#) && !file.contains("on_this_phone"), "{file}");
    assert_eq!(vault.unlock("246810").unwrap().bytes(), key.bytes());
}
