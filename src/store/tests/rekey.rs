//! A passcode change cut short between its steps: the next unlock finds the key file
//! that belongs to the journal, and the other passcode opens nothing.

use super::*;
use crate::vault::{Vault, VaultError};

fn journal_with_a_passcode() -> (tempfile::TempDir, Vault, Store) {
    let dir = tempfile::TempDir::new().unwrap();
    let vault = Vault::at(dir.path());
    let key = vault.set_up(Some("old passcode")).unwrap();
    let mut s = Store::open_dir(dir.path(), &key).unwrap();
    s.init("Alex").unwrap();
    s.add(helps("Cut-3a7e short")).unwrap();
    (dir, vault, s)
}

#[test]
fn cut_short_after_the_new_key_file_is_written_the_old_passcode_still_opens_it() {
    let (dir, vault, s) = journal_with_a_passcode();
    vault.begin_change(Some("new passcode")).unwrap();
    drop(s);
    let key = vault.unlock("old passcode").unwrap();
    let mut again = Store::open_dir(dir.path(), &key).unwrap();
    assert!(again.entries().unwrap().iter().any(|e| e.body.main_text().contains("Cut-3a7e")));
    assert!(!dir.path().join("steady.key.next").exists(), "the unfinished key file is gone");
    assert!(matches!(vault.unlock("new passcode"), Err(VaultError::WrongPasscode { .. })));
}

#[test]
fn cut_short_after_the_journal_is_sealed_again_the_new_passcode_opens_it() {
    let (dir, vault, mut s) = journal_with_a_passcode();
    let new = vault.begin_change(Some("new passcode")).unwrap();
    s.rekey(&new).unwrap();
    drop(s);
    let key = vault.unlock("new passcode").unwrap();
    let mut again = Store::open_dir(dir.path(), &key).unwrap();
    assert!(again.entries().unwrap().iter().any(|e| e.body.main_text().contains("Cut-3a7e")));
    assert!(!dir.path().join("steady.key.next").exists(), "the new key file is in place");
    assert!(matches!(vault.unlock("old passcode"), Err(VaultError::WrongPasscode { .. })));
}

/// Another connection to the journal (the sync node's) holds the old key: after the
/// change it writes nothing, rather than values the new key can't open.
#[test]
fn a_connection_that_holds_the_old_key_writes_nothing_after_a_change() {
    let (dir, vault, mut window) = journal_with_a_passcode();
    let old = vault.unlock("old passcode").unwrap();
    let mut node = Store::open_dir(dir.path(), &old).unwrap();
    let new = window.change_passcode(&vault, Some("new passcode")).unwrap();
    let err = node.add(helps("Written-5d1b with the old key")).unwrap_err();
    assert!(matches!(err, StoreError::KeyChanged), "{err}");
    drop((node, window));
    let mut reopened = Store::open_dir(dir.path(), &new).unwrap();
    let entries = reopened.entries().unwrap();
    assert!(entries.iter().any(|e| e.body.main_text().contains("Cut-3a7e")));
    assert!(!entries.iter().any(|e| e.body.main_text().contains("Written-5d1b")));
}
