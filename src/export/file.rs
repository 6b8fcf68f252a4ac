//! An export as a file: the journal as JSON or Markdown, or the shared document's own
//! bytes; encrypted with age to a passphrase unless the person chose plain text; written
//! to a new file beside its final name and renamed into place, so a crash never leaves
//! half of one. Used by the command line and the window alike.

use std::path::{Path, PathBuf};

use chrono::{Local, Utc};

use super::Journal;
use crate::store::{Store, StoreError};
use crate::vault::VaultError;

/// What an export holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Every entry, private and shared; `import` reads it back.
    Json,
    /// Every entry, for reading.
    Markdown,
    /// The shared document itself, which any Automerge program opens. Never encrypted.
    Automerge,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("can't encrypt the export ({0})")]
    Encrypt(String),
    #[error("{} needs a file name", .0.display())]
    NoFileName(PathBuf),
    #[error(transparent)]
    Write(#[from] VaultError),
}

/// The journal as an export holds it: the person, the names, every entry.
pub fn journal(store: &mut Store) -> Result<Journal, StoreError> {
    let person = store.me().cloned().ok_or(StoreError::NotSetUp)?;
    Ok(Journal { person, people: store.people()?, entries: store.entries()? })
}

/// The journal in `format`, as the bytes of a file.
pub fn bytes(store: &mut Store, format: Format) -> Result<Vec<u8>, ExportError> {
    Ok(match format {
        Format::Automerge => store.document_bytes()?,
        Format::Json => super::to_json(&journal(store)?, Utc::now()).into_bytes(),
        Format::Markdown => {
            let offset = *Local::now().offset();
            super::to_markdown(&journal(store)?, Utc::now(), offset).into_bytes()
        }
    })
}

/// `bytes` encrypted with age to `passphrase` (an scrypt recipient), as `age -d` opens.
pub fn encrypt(bytes: &[u8], passphrase: &str) -> Result<Vec<u8>, ExportError> {
    let recipient = age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    age::encrypt(&recipient, bytes).map_err(|e| ExportError::Encrypt(e.to_string()))
}

/// The plaintext of an export encrypted with age to `passphrase`.
pub fn decrypt(bytes: &[u8], passphrase: &str) -> Result<Vec<u8>, String> {
    let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    age::decrypt(&identity, bytes).map_err(|e| match e {
        age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
            "that passphrase does not open this export".to_owned()
        }
        other => format!("the export can't be decrypted ({other})"),
    })
}

/// A JSON export read back from a file's `bytes`, encrypted (opened with `passphrase`)
/// or not: what `import` and the window's restore take.
pub fn read_backup(bytes: &[u8], passphrase: Option<&str>) -> Result<super::Journal, String> {
    let plain = if is_age(bytes) {
        decrypt(bytes, passphrase.ok_or("this export is encrypted: give its passphrase")?)?
    } else {
        bytes.to_vec()
    };
    let text = String::from_utf8(plain).map_err(|_| "it is not a JSON export".to_owned())?;
    super::from_json(&text).map_err(|e| e.to_string())
}

/// Whether `bytes` are an age file.
pub fn is_age(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/v1")
}

/// Writes the journal in `format` to `path`, whole or not at all: JSON and Markdown
/// encrypted with age to `passphrase` (the file's name then ends in .age), or in the
/// clear when there is none. The file is created new (never through a symlink), readable
/// by this user alone. Returns where it was written.
pub fn write(store: &mut Store, format: Format, path: &Path, passphrase: Option<&str>) -> Result<PathBuf, ExportError> {
    let mut bytes = bytes(store, format)?;
    let mut path = path.to_owned();
    let name = path.file_name().ok_or_else(|| ExportError::NoFileName(path.clone()))?.to_owned();
    if let (Some(passphrase), false) = (passphrase, format == Format::Automerge) {
        bytes = encrypt(&bytes, passphrase)?;
        if path.extension().is_none_or(|e| e != "age") {
            let mut name = name;
            name.push(".age");
            path.set_file_name(name);
        }
    }
    crate::vault::write_private_file(&path, &bytes)?;
    Ok(path)
}
