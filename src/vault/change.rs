//! A passcode change under a new data key, so that an old copy of the key file and the
//! old passcode open nothing of today's journal:
//!
//! 1. [`Vault::begin_change`] draws a new data key, and writes the key file that keeps it
//!    (behind the new passcode, or without one) beside the current one, as
//!    `steady.key.next`, named with a new key id.
//! 2. The store re-seals every value with the new key and writes the new key id into the
//!    journal, in one transaction (`Store::change_passcode`).
//! 3. [`Vault::finish_change`] renames the new key file over the old one.
//!
//! A crash between two steps is settled the next time the journal is unlocked: the key id
//! the journal holds says which of the two key files is its own, and the other is removed.

use std::path::PathBuf;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use zeroize::Zeroizing;

use super::files::{sync_dir, write_private_file};
use super::{DB_FILE, DataKey, KeyFile, Vault, VaultError, check_new_passcode, key};

/// Where the journal keeps the id of the data key it is sealed with, in the clear.
pub const KEY_ID: &str = "key_id";

/// The key file of a change that is not finished yet.
const NEXT_KEY_FILE: &str = "steady.key.next";

/// A new data key, with its id: what the journal is re-sealed with.
pub struct NewKey {
    pub key: DataKey,
    pub id: String,
}

impl Vault {
    fn next_path(&self) -> PathBuf {
        self.dir.join(NEXT_KEY_FILE)
    }

    /// Step 1: a new data key, and the key file that will keep it behind `passcode` (or
    /// without one), written beside the current one. Nothing opens with it until the
    /// journal is re-sealed and [`Vault::finish_change`] puts it in place.
    pub fn begin_change(&self, passcode: Option<&str>) -> Result<NewKey, VaultError> {
        if let Some(p) = passcode {
            check_new_passcode(p)?;
        }
        if self.read_key_file()?.is_none() {
            return Err(VaultError::NotSetUp(self.dir.clone()));
        }
        let key = DataKey::random();
        let mut id = [0u8; 16];
        key::fill_random(&mut id);
        let id = hex::encode(id);
        let file = self.key_file_for(&key, passcode, id.clone())?;
        let text = Zeroizing::new(serde_json::to_string(&file).expect("a key file always serialises"));
        write_private_file(&self.next_path(), text.as_bytes())?;
        Ok(NewKey { key, id })
    }

    /// Step 3: the new key file replaces the old one, once the journal is sealed with its
    /// key. The count of wrong tries starts again.
    pub fn finish_change(&self) -> Result<(), VaultError> {
        let next = self.next_path();
        let Some(file) = self.read_key_file_at(next.clone())? else { return Ok(()) };
        let io = |source| VaultError::Io { what: "can't put the new key file in place", path: next.clone(), source };
        std::fs::rename(&next, self.key_path()).map_err(io)?;
        sync_dir(&self.dir).map_err(io)?;
        self.empty_keystore_behind(&file)?;
        self.clear_tries()
    }

    /// Gives up a change whose journal was not re-sealed: its key file goes, the current
    /// one stays.
    pub fn abandon_change(&self) -> Result<(), VaultError> {
        match std::fs::remove_file(self.next_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(VaultError::Io { what: "can't remove", path: self.next_path(), source }),
        }
    }

    /// Finishes or gives up a change that a crash cut short, whichever the journal says.
    pub(super) fn settle_change(&self) -> Result<(), VaultError> {
        if !self.next_path().exists() {
            return Ok(());
        }
        let next_id = match self.read_key_file_at(self.next_path()) {
            Ok(Some(file)) => file.key_id().to_owned(),
            // A damaged next key file was never put in place: the journal can't be sealed
            // with a key nobody can read back.
            Ok(None) | Err(VaultError::BadKeyFile { .. }) => return self.abandon_change(),
            Err(e) => return Err(e),
        };
        match self.journal_key_id() {
            Ok(Some(id)) if id == next_id => self.finish_change(),
            Ok(_) => self.abandon_change(),
            // The journal can't be read just now (another process is writing it): the
            // change is settled at the next unlock.
            Err(_) => Ok(()),
        }
    }

    /// Refuses a key file that does not belong to the journal beside it: one kept from
    /// before a passcode change, put back. (One whose id was edited to match still opens
    /// nothing: the journal is sealed with another key.)
    pub(super) fn check_belongs(&self, file: &KeyFile) -> Result<(), VaultError> {
        match self.journal_key_id() {
            Ok(Some(id)) if id != file.key_id() => Err(VaultError::StaleKeyFile { path: self.key_path() }),
            _ => Ok(()),
        }
    }

    /// The key id the journal holds, read without writing anything: `None` for a journal
    /// that has never changed its key (or none at all).
    pub(super) fn journal_key_id(&self) -> Result<Option<String>, rusqlite::Error> {
        let path = self.dir.join(DB_FILE);
        if !path.exists() {
            return Ok(None);
        }
        // With no log of recent writes beside it, nobody has the journal open and all of
        // it is in the file: read it as a file that can't change, so not even SQLite's
        // shared-memory file is made. Otherwise read it as one more reader.
        let wal = self.dir.join(format!("{DB_FILE}-wal"));
        let conn = if wal.exists() {
            Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?
        } else {
            let uri = format!("file:{}?immutable=1", path.display());
            Connection::open_with_flags(uri, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI)?
        };
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        let has_meta: bool =
            conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| {
                r.get::<_, i64>(0).map(|n| n > 0)
            })?;
        if !has_meta {
            return Ok(None);
        }
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [KEY_ID], |r| r.get(0)).optional()
    }
}
