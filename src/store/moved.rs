//! The data folder as a move to a new phone sees it (`net::moving`): what is gathered on
//! the old phone, how it is set in place on the new one, and how the old phone erases its
//! copy once the new one holds everything.
//!
//! - **What moves:** every file of the data folder, sealed at rest as it is (the journal
//!   as one consistent copy, SQLite's `VACUUM INTO`; sealed letters; settings files),
//!   and the data key, which the new phone seals under its own passcode. What belongs to
//!   the old phone alone stays: its key file, its count of wrong passcodes, and what the
//!   caller names (the courier's profile, sealed with the old phone's keystore; the new
//!   phone writes its own).
//! - **Erasing:** every row deleted with `secure_delete` on (their pages overwritten),
//!   the log emptied, then every file overwritten with zeros, synced and removed, and the
//!   keystore's items forgotten.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Store, StoreError};
use crate::vault::{DB_FILE, DataKey, KEY_FILE, TRIES_FILE, Vault};

/// The consistent copy of the journal that a move sends, in the folder while it goes.
pub const SNAPSHOT_FILE: &str = "move-snapshot.sqlite3";
/// The files of a move under way: its marker and the person's answer.
pub const MOVE_WAITING: &str = "move.waiting";
pub const MOVE_ANSWER: &str = "move.answer";

/// One file of the data folder, as it travels: where it goes (relative, `/` between
/// folders), its size and its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Files that stay with the phone they were made on.
fn stays(name: &str) -> bool {
    name == KEY_FILE
        || name.starts_with(&format!("{KEY_FILE}."))
        || name == TRIES_FILE
        || name.starts_with(&format!("{DB_FILE}-"))
        || name == SNAPSHOT_FILE
        || name == MOVE_WAITING
        || name == MOVE_ANSWER
}

impl Store {
    /// Writes a consistent copy of the journal's file to `to`, which must not exist.
    pub fn snapshot_to(&self, to: &Path) -> Result<(), StoreError> {
        let path = to.to_str().ok_or_else(|| StoreError::corrupt("the folder's name is not UTF-8"))?;
        self.conn.execute("VACUUM INTO ?1", [path])?;
        Ok(())
    }

    /// Empties the journal for good: every row of every table deleted with
    /// `secure_delete` on, which overwrites their pages, and the log emptied.
    pub fn erase(self) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tables: Vec<String> = {
            let mut query = self
                .conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?;
            query.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let tx = self.conn.unchecked_transaction()?;
        for table in &tables {
            tx.execute(&format!("DELETE FROM \"{}\"", table.replace('"', "\"\"")), [])?;
        }
        tx.commit()?;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hash.finalize())))
}

/// Every regular file under `dir`, as paths relative to it with `/` between folders.
fn files_under(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut folders = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            let relative = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
            let kind = entry.file_type()?;
            if kind.is_dir() {
                folders.push((relative, entry.path()));
            } else if kind.is_file() {
                found.push((relative, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// What the old phone sends from `dir`: the journal as a consistent copy (written
/// beside it, as [`SNAPSHOT_FILE`]), and every other file that does not stay (nor is
/// named in `stays_too`), each with its size and hash.
pub fn gather(store: &Store, dir: &Path, stays_too: &[&str]) -> Result<Vec<(Moved, PathBuf)>, StoreError> {
    let snapshot = dir.join(SNAPSHOT_FILE);
    let _ = fs::remove_file(&snapshot);
    store.snapshot_to(&snapshot)?;
    let mut out = Vec::new();
    for (relative, path) in files_under(dir)? {
        let top = relative.split('/').next().unwrap_or_default();
        if relative == DB_FILE || (!relative.contains('/') && (stays(top) || stays_too.contains(&top))) {
            continue;
        }
        let (size, sha256) = hash_file(&path)?;
        out.push((Moved { path: relative, size, sha256 }, path));
    }
    let (size, sha256) = hash_file(&snapshot)?;
    out.insert(0, (Moved { path: DB_FILE.to_owned(), size, sha256 }, snapshot));
    Ok(out)
}

/// Sets a folder that arrived in `staging` in place as `dir`: the data key sealed under
/// `passcode` (or kept without one), the journal opened with it and listed to check that
/// it is whole, `ready` run on it with how many entries it lists (the caller's last
/// steps, in the same folder), and only
/// then `staging` renamed to `dir`, which must be empty or missing. Returns what `ready`
/// made.
pub fn land<T>(
    staging: &Path,
    dir: &Path,
    key: &DataKey,
    passcode: Option<&str>,
    ready: impl FnOnce(&mut Store, usize) -> Result<T, String>,
) -> Result<T, String> {
    Vault::at(staging).adopt(key, passcode).map_err(|e| e.to_string())?;
    let mut store = Store::open_dir(staging, key).map_err(|e| e.to_string())?;
    let listed = store.entries().map_err(|e| e.to_string())?.len();
    let made = ready(&mut store, listed)?;
    drop(store);
    match fs::remove_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{} is not empty ({e}): nothing was put in place", dir.display())),
    }
    fs::rename(staging, dir).map_err(|e| format!("can't put the journal in {}: {e}", dir.display()))?;
    if let Some(parent) = dir.parent()
        && let Ok(folder) = fs::File::open(parent)
    {
        let _ = folder.sync_all();
    }
    Ok(made)
}

/// The name a data folder takes while it is erased, beside it.
fn erasing_for(dir: &Path) -> Result<PathBuf, String> {
    let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{} has no name", dir.display()))?;
    Ok(dir.with_file_name(format!(".{name}.erasing")))
}

/// Erases the old phone's copy. First the folder is renamed aside, one atomic step after
/// which nothing opens it as a journal; then its key file is overwritten, the phone's
/// keystore items forgotten, the journal emptied ([`Store::erase`]), and every file
/// overwritten with zeros, synced and removed. An erase broken off half-way is finished
/// by [`finish_erasing`] at the next start.
pub fn erase(store: Store, dir: &Path) -> Result<(), String> {
    let erasing = erasing_for(dir)?;
    fs::rename(dir, &erasing).map_err(|e| format!("{}: {e}", dir.display()))?;
    match scrub(&erasing.join(KEY_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(format!("the key file: {e}")),
        _ => {}
    }
    Vault::at(&erasing).forget_keystore();
    store.erase().map_err(|e| e.to_string())?;
    scrub_all(&erasing)
}

/// Finishes an erase broken off half-way (the app or the command stopped during it): the
/// folder it left beside `dir` is scrubbed and removed. Costs one look when there is none.
pub fn finish_erasing(dir: &Path) {
    if let Ok(erasing) = erasing_for(dir)
        && erasing.exists()
        && let Err(e) = scrub_all(&erasing)
    {
        tracing::warn!("what was left of a journal that moved away could not be erased yet: {e}");
    }
}

fn scrub_all(dir: &Path) -> Result<(), String> {
    for (_, path) in files_under(dir).map_err(|e| e.to_string())? {
        scrub(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Overwrites a file with zeros, to its length, syncs it and removes it.
fn scrub(path: &Path) -> std::io::Result<()> {
    let size = fs::metadata(path)?.len();
    let mut file = fs::OpenOptions::new().write(true).open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    drop(file);
    fs::remove_file(path)
}
