//! Why a store operation failed, in words a person can act on.

use std::path::PathBuf;

use crate::model::{EntryId, ModelError};

use super::FailPoint;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ModelError),
    #[error("no entry has the id {0}")]
    NotFound(EntryId),
    #[error("nobody is set up on this phone yet; run `steady init --name YOUR-NAME` first")]
    NotSetUp,
    #[error(
        "the data file {path} is damaged: {what}. It has not been changed; keep a copy of it before trying anything else"
    )]
    Corrupt { path: PathBuf, what: String },
    #[error("the shared entry {id} can't be read: {reason}")]
    UnreadableSharedEntry { id: EntryId, reason: ModelError },
    #[error(
        "{path} was written by a newer version of Steady (data format {found}; this version reads up to {supported}); update the app"
    )]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("importing needs an empty data directory, and {path} already holds entries")]
    NotEmpty { path: PathBuf },
    #[error("the import file can't be used: {0}")]
    BadImport(String),
    #[error("the database refused the change: {0}")]
    Sqlite(rusqlite::Error),
    #[error(
        "a value in the journal does not open with its key: the file is damaged, or the key file belongs to another journal. Nothing was changed"
    )]
    Sealed,
    #[error("{0}")]
    Locked(String),
    #[error(
        "the key does not open {path}: its key file (steady.key) belongs to another journal, or the file is damaged. Nothing was changed"
    )]
    WrongKey { path: PathBuf },
    #[error("the shared document refused the change: {0}")]
    Document(#[from] automerge::AutomergeError),
    #[error("can't use the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Refused(super::RuleBreak),
    #[error("the passcode was changed in another window, under a new key; nothing was written: open Steady again")]
    KeyChanged,
    #[error(transparent)]
    Lock(#[from] crate::vault::VaultError),
    #[error("the pairing changed while this was being written; nothing was written, try again")]
    PairingChanged,
    #[error(
        "the partner's phone sent {bytes} bytes of changes that wait for earlier ones it never sent; nothing was kept"
    )]
    HeldBack { bytes: usize },
    #[error("the partner's phone sent changes that would take more than {bytes} bytes once inflated; nothing was kept")]
    TooBig { bytes: u64 },
    #[error(
        "the partner's phone sent changes that declare {rows} operations, more than a sync may hold; nothing was kept"
    )]
    TooManyOps { rows: u64 },
    #[error(
        "your partner's phone sent more than Steady keeps of a partner's writing ({}); nothing of it was kept",
        size_words(*quota)
    )]
    OverQuota { quota: u64 },
    #[error("the partner's phone sent a sync message Steady can't accept ({0}); nothing was kept")]
    BadSyncMessage(&'static str),
    #[error(
        "the shared document with your partner takes {}, more than Steady opens ({}): your entries are safe and \
         listed, but nothing can be written or synced until you end the pairing (unpair), which sets it apart",
        size_words(*bytes), size_words(*limit)
    )]
    DocumentTooBig { bytes: u64, limit: u64 },
    #[error(
        "this past pairing's document takes {}, more than Steady opens ({}); it can still be deleted",
        size_words(*bytes), size_words(*limit)
    )]
    PastDocumentTooBig { bytes: u64, limit: u64 },
    #[error("there is no past pairing with the number {0}")]
    NoPastDocument(i64),
    #[error("a failure was injected at {0:?}")]
    Injected(FailPoint),
}

/// "32 MiB", "4 KiB".
fn size_words(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

impl StoreError {
    /// Damage found before the store knows its path; [`super::Store`] fills the path in.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Corrupt { path: PathBuf::new(), what: what.into() }
    }

    pub(crate) fn at(self, file: &std::path::Path) -> Self {
        match self {
            StoreError::Corrupt { path, what } if path.as_os_str().is_empty() => {
                StoreError::Corrupt { path: file.to_owned(), what }
            }
            other => other,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if super::sealed::is_unsealable(&e) { StoreError::Sealed } else { StoreError::Sqlite(e) }
    }
}

impl From<rusqlite::types::FromSqlError> for StoreError {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        StoreError::Sqlite(e.into())
    }
}
