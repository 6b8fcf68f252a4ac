//! The lock on the journal. A random 256-bit data key encrypts everything personal before
//! it reaches SQLite (`DataKey`, used by `store`). The data key itself is kept in a small
//! key file beside the journal (`steady.key`):
//!
//! - with a passcode, wrapped by a key that Argon2id derives from the passcode;
//! - without one, as it is, which protects a copy of the journal file alone but not a
//!   copy of the whole folder (README.md, "Locked and encrypted").
//!
//! Wrong passcodes are counted in a file of their own (`steady.tries`), so a wrong try
//! never writes to the journal, and the growing wait survives a restart. Nothing here
//! ever deletes or rewrites the journal: forgetting the passcode loses the private
//! entries, and no number of wrong tries does.
//!
//! Every file is replaced whole: written beside its final name (created exclusively, so
//! never through a symlink), synced, then renamed over it. A crash leaves the old file or
//! the new one.

mod change;
mod clock;
mod files;
mod key;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use change::{KEY_ID, NewKey};
pub use clock::Now;
pub use files::{make_private_dir, write_new_file, write_private_file};
pub use key::{DataKey, Unsealable};

/// What happens when a passcode is forgotten, said at setup.
pub const FORGOTTEN: &str = "If you forget this passcode, nobody can open your private entries again, not even you: \
there is no reset and no recovery. What you shared stays readable on your partner's phone, as a past pairing, \
but it does not come back to this one: pairing again starts a new shared history (unless you restore an export you \
kept, under its own passphrase, and continue the pairing). Removing the app is the only way to start over.";

/// What a journal without a passcode protects against, said when one is set up or removed.
pub const WITHOUT_PASSCODE: &str = "Without a passcode, anyone who can open Steady on this device, or copy its \
whole data folder, can read every entry. The journal file on its own is still encrypted: a copy of it without \
its key file (steady.key) reveals nothing.";

/// The journal's file (SQLite, its values sealed) inside the data directory.
pub const DB_FILE: &str = "steady.sqlite3";
/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "steady.key";
/// The count of wrong passcodes and the wait they earned.
pub const TRIES_FILE: &str = "steady.tries";

/// Wrong passcodes allowed before the first wait.
pub const FREE_TRIES: u32 = 5;

/// How the journal in a data directory is locked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Nothing set up yet.
    New,
    /// A journal written before encryption, not yet encrypted: it will be, with a key set
    /// up now, on its first unlock.
    Unencrypted,
    /// Locked with a passcode.
    Passcode,
    /// Encrypted, with the data key kept without a passcode.
    NoPasscode,
}

/// What went wrong with the lock.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("Steady is locked: give the passcode (STEADY_PASSCODE)")]
    Locked,
    #[error("that passcode is not right{}", wait_words(*.wait))]
    WrongPasscode { wait: Option<Duration>, tries_before_wait: u32 },
    #[error("too many wrong passcodes: try again in {}", duration_words(*.0))]
    TooSoon(Duration),
    #[error("{0}")]
    WeakPasscode(String),
    #[error("Steady is already set up in {0}")]
    AlreadySetUp(PathBuf),
    #[error("Steady is not set up in {0} yet")]
    NotSetUp(PathBuf),
    #[error("the key file {path} is damaged or not Steady's ({why}); the journal is left as it is")]
    BadKeyFile { path: PathBuf, why: String },
    #[error(
        "the key file {path} keeps a key this journal no longer uses: the passcode was changed after this key file was written. Nothing was opened"
    )]
    StaleKeyFile { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
}

fn wait_words(wait: Option<Duration>) -> String {
    match wait {
        None => String::new(),
        Some(w) => format!(": wait {} before the next try", duration_words(w)),
    }
}

/// "30 s", "5 min", "1 h".
pub fn duration_words(d: Duration) -> String {
    let s = d.as_secs().max(1);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{} min", s.div_ceil(60))
    } else {
        format!("{} h", s.div_ceil(3600))
    }
}

/// The wait after `wrong` wrong passcodes in a row: none for the first five, then 30 s,
/// 1 min, 5 min, 15 min, 1 h, 4 h, and 8 h from then on.
pub fn wait_after(wrong: u32) -> Option<Duration> {
    const STEPS: [u64; 7] = [30, 60, 300, 900, 3600, 4 * 3600, 8 * 3600];
    let past_free = wrong.checked_sub(FREE_TRIES)?;
    Some(Duration::from_secs(STEPS[(past_free as usize).min(STEPS.len() - 1)]))
}

/// Checks a new passcode: a PIN of at least 6 digits, or a passphrase of at least 8
/// characters.
pub fn check_new_passcode(passcode: &str) -> Result<(), VaultError> {
    let chars = passcode.chars().count();
    if passcode.trim().is_empty() {
        return Err(VaultError::WeakPasscode("a passcode can't be empty".into()));
    }
    if passcode.chars().all(|c| c.is_ascii_digit()) {
        if chars < 6 {
            return Err(VaultError::WeakPasscode("a PIN needs at least 6 digits".into()));
        }
    } else if chars < 8 {
        return Err(VaultError::WeakPasscode(
            "a passphrase needs at least 8 characters (or use a PIN of 6 digits or more)".into(),
        ));
    }
    Ok(())
}

/// The Argon2id cost of deriving the wrapping key: about half a second on a 2-core
/// desktop machine (BENCHMARKS.md); phones of recent years take about as long.
pub const KDF: Kdf = Kdf { memory_kib: 64 * 1024, iterations: 12, parallelism: 1 };

/// Argon2id's parameters, as recorded in the key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kdf {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Kdf {
    /// The 32-byte key that wraps the data key.
    pub fn derive(&self, passcode: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, String> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|e| format!("unusable Argon2id parameters ({e})"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passcode.as_bytes(), salt, out.as_mut())
            .map_err(|e| format!("Argon2id failed ({e})"))?;
        Ok(out)
    }
}

/// The key file, as JSON. `key_id` names the data key (a random id, not derived from
/// it): the journal keeps the same id in the clear, so a key file and a journal that
/// don't belong together are told apart before anything is tried. Key files from before
/// the first passcode change have none.
#[derive(Serialize, Deserialize)]
#[serde(tag = "lock", rename_all = "snake_case")]
enum KeyFile {
    /// The data key, wrapped with XChaCha20-Poly1305 under the passcode's Argon2id key;
    /// with `on_this_phone` (format 2), under that key mixed with the phone's part of the
    /// lock, which only this phone's keystore holds ([`with_phones_part`]).
    Passcode {
        format: u32,
        kdf: Kdf,
        salt: String,
        wrapped_key: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        key_id: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        on_this_phone: bool,
    },
    /// The data key as it is: no passcode, on a device with no keystore.
    None {
        format: u32,
        key: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        key_id: String,
    },
    /// No passcode, and the data key is in the phone's keystore (Android Keystore, iOS
    /// Keychain), not in this file.
    Keystore {
        format: u32,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        key_id: String,
    },
}

impl KeyFile {
    fn key_id(&self) -> &str {
        match self {
            KeyFile::Passcode { key_id, .. } | KeyFile::None { key_id, .. } | KeyFile::Keystore { key_id, .. } => {
                key_id
            }
        }
    }
}

/// Associated data of the wrapped key: a wrapped key only opens as a key file's.
const WRAP_AAD: &[u8] = b"steady key file v1";

/// The key that wraps the data key of a key file bound to this phone: HMAC-SHA256 of the
/// passcode's Argon2id key under the phone's part of the lock. Without that part (which
/// only this phone's keystore can open) a copy of the folder can't be guessed at: every
/// guess has to be made on the phone.
fn with_phones_part(derived: &[u8; 32], part: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(part).expect("HMAC takes any key length");
    mac.update(b"steady passcode on this phone v1");
    mac.update(derived);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The count of wrong passcodes, and when the last was made, as JSON.
#[derive(Default, Serialize, Deserialize)]
struct Tries {
    wrong: u32,
    /// The boot the last wrong try was made in, and the boot-time clock then (ms): the
    /// wait it earned is measured from there, in that boot. A count from another boot, or
    /// from a version that kept the wall clock, waits the whole wait again from now.
    #[serde(default)]
    boot_id: String,
    #[serde(default)]
    at_boot_ms: u64,
}

/// Where a phone keeps the data key of a journal without a passcode, or the phone's part
/// of the passcode's lock: the platform's keystore ([`crate::platform`]), or a stand-in
/// for tests.
pub trait Keystore: Send + Sync {
    fn available(&self) -> bool;
    fn put(&self, what: Kept, key: &[u8; 32]) -> Result<(), String>;
    fn get(&self, what: Kept) -> Result<Option<Zeroizing<[u8; 32]>>, String>;
    fn remove(&self, what: Kept) -> Result<(), String>;
}

pub use crate::platform::Kept;

/// The phone's own keystore (none on the desktop).
struct PhoneKeystore;

impl Keystore for PhoneKeystore {
    fn available(&self) -> bool {
        crate::platform::keystore_available()
    }
    fn put(&self, what: Kept, key: &[u8; 32]) -> Result<(), String> {
        crate::platform::keystore_put(what, key)
    }
    fn get(&self, what: Kept) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        crate::platform::keystore_get(what)
    }
    fn remove(&self, what: Kept) -> Result<(), String> {
        crate::platform::keystore_remove(what)
    }
}

/// The lock of the journal in one data directory.
pub struct Vault {
    dir: PathBuf,
    keystore: Arc<dyn Keystore>,
}

impl Vault {
    pub fn at(dir: &Path) -> Vault {
        Vault { dir: dir.to_owned(), keystore: Arc::new(PhoneKeystore) }
    }

    /// The lock of `dir` on a device whose keystore is `keystore`, for tests.
    #[doc(hidden)]
    pub fn with_keystore(dir: &Path, keystore: Arc<dyn Keystore>) -> Vault {
        Vault { dir: dir.to_owned(), keystore }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    fn tries_path(&self) -> PathBuf {
        self.dir.join(TRIES_FILE)
    }

    /// How this directory's journal is locked. Reads, never writes.
    pub fn state(&self) -> Result<LockState, VaultError> {
        match self.read_key_file()? {
            Some(KeyFile::Passcode { .. }) => Ok(LockState::Passcode),
            Some(KeyFile::None { .. } | KeyFile::Keystore { .. }) => Ok(LockState::NoPasscode),
            None if self.dir.join(DB_FILE).exists() => Ok(LockState::Unencrypted),
            None => Ok(LockState::New),
        }
    }

    fn read_key_file(&self) -> Result<Option<KeyFile>, VaultError> {
        self.read_key_file_at(self.key_path())
    }

    fn read_key_file_at(&self, path: PathBuf) -> Result<Option<KeyFile>, VaultError> {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(VaultError::Io { what: "can't use the data directory", path: self.dir.clone(), source });
            }
        };
        let file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| VaultError::BadKeyFile { path: path.clone(), why: e.to_string() })?;
        let format = match &file {
            KeyFile::Passcode { format, .. } | KeyFile::None { format, .. } | KeyFile::Keystore { format, .. } => {
                *format
            }
        };
        let bound = matches!(file, KeyFile::Passcode { on_this_phone: true, .. });
        if format != 1 && !(format == 2 && bound) {
            return Err(VaultError::BadKeyFile { path, why: format!("format {format}, from a newer Steady") });
        }
        Ok(Some(file))
    }

    /// Sets up a new data key, locked with `passcode` or, with `None`, kept without one.
    /// For a new directory, or a journal written before encryption (which the store
    /// then encrypts in place when it opens it with this key).
    pub fn set_up(&self, passcode: Option<&str>) -> Result<DataKey, VaultError> {
        match self.state()? {
            LockState::New | LockState::Unencrypted => {}
            LockState::Passcode | LockState::NoPasscode => return Err(VaultError::AlreadySetUp(self.dir.clone())),
        }
        if let Some(p) = passcode {
            check_new_passcode(p)?;
        }
        make_private_dir(&self.dir)?;
        let key = DataKey::random();
        self.write_key(&key, passcode)?;
        Ok(key)
    }

    /// Takes a journal that arrived from another phone (a move) with its data key: the
    /// key is sealed under `passcode` here (or kept without one), under the id the
    /// journal names. For a folder with a journal and no key file yet.
    pub fn adopt(&self, key: &DataKey, passcode: Option<&str>) -> Result<(), VaultError> {
        if self.read_key_file()?.is_some() {
            return Err(VaultError::AlreadySetUp(self.dir.clone()));
        }
        if let Some(p) = passcode {
            check_new_passcode(p)?;
        }
        let key_id = self
            .journal_key_id()
            .map_err(|e| VaultError::BadKeyFile { path: self.dir.join(DB_FILE), why: e.to_string() })?
            .unwrap_or_default();
        self.write_key_named(key, passcode, key_id)
    }

    /// Forgets what this phone's keystore holds for Steady: the data key, the passcode's
    /// part and the courier's key. For a phone whose journal moved away.
    pub fn forget_keystore(&self) {
        if self.keystore.available() {
            for what in [Kept::DataKey, Kept::PasscodePepper, Kept::CourierKey] {
                let _ = self.keystore.remove(what);
            }
        }
    }

    /// The data key, with the passcode. A wrong passcode is counted (in the tries file,
    /// never in the journal), and after five in a row each try must wait longer.
    pub fn unlock(&self, passcode: &str) -> Result<DataKey, VaultError> {
        self.unlock_at(passcode, &Now::current())
    }

    /// [`Vault::unlock`] at a given time, for tests of the wait.
    pub fn unlock_at(&self, passcode: &str, now: &Now) -> Result<DataKey, VaultError> {
        self.settle_change()?;
        let Some(file) = self.read_key_file()? else {
            return Err(match self.state()? {
                LockState::Unencrypted => VaultError::Locked,
                _ => VaultError::NotSetUp(self.dir.clone()),
            });
        };
        self.check_belongs(&file)?;
        let KeyFile::Passcode { kdf, salt, wrapped_key, on_this_phone, .. } = file else {
            return self.key_without_passcode();
        };
        if let Some(wait) = self.wait_at(now)? {
            return Err(VaultError::TooSoon(wait));
        }
        let bad = |why: &str| VaultError::BadKeyFile { path: self.key_path(), why: why.to_owned() };
        let salt = hex::decode(salt).map_err(|_| bad("unreadable salt"))?;
        let wrapped = hex::decode(wrapped_key).map_err(|_| bad("unreadable wrapped key"))?;
        // The phone's part is asked for first: without it no try is made, and none counted.
        let part = if on_this_phone { Some(self.phones_part()?) } else { None };
        let mut wrapping = kdf.derive(passcode, &salt).map_err(|e| bad(&e))?;
        if let Some(part) = &part {
            wrapping = with_phones_part(&wrapping, part);
        }
        match DataKey::from_bytes(&wrapping).open(WRAP_AAD, &wrapped) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let key = DataKey::from_slice(&bytes).ok_or_else(|| bad("the wrapped key is not 32 bytes"))?;
                self.clear_tries()?;
                Ok(key)
            }
            Err(Unsealable) => {
                let mut tries = self.read_tries();
                tries.wrong = tries.wrong.saturating_add(1);
                tries.boot_id = now.boot_id.clone();
                tries.at_boot_ms = now.boot.as_millis() as u64;
                self.write_tries(&tries)?;
                let wait = wait_after(tries.wrong);
                Err(VaultError::WrongPasscode { wait, tries_before_wait: FREE_TRIES.saturating_sub(tries.wrong) })
            }
        }
    }

    /// How long until the next passcode try is taken, if it must wait. The wait is
    /// measured on the boot-time clock from the last wrong try, so setting the phone's
    /// date forward (or back) changes nothing; after a restart of the phone the whole wait
    /// starts again, from the first look.
    pub fn wait_at(&self, now: &Now) -> Result<Option<Duration>, VaultError> {
        let mut tries = self.read_tries();
        let Some(earned) = wait_after(tries.wrong) else { return Ok(None) };
        match now.since(Duration::from_millis(tries.at_boot_ms), &tries.boot_id) {
            Some(passed) => Ok(earned.checked_sub(passed).filter(|left| !left.is_zero())),
            None => {
                tries.boot_id = now.boot_id.clone();
                tries.at_boot_ms = now.boot.as_millis() as u64;
                self.write_tries(&tries)?;
                Ok(Some(earned))
            }
        }
    }

    /// How many wrong passcodes in a row so far.
    pub fn wrong_tries(&self) -> u32 {
        self.read_tries().wrong
    }

    /// The data key of a journal kept without a passcode.
    pub fn key_without_passcode(&self) -> Result<DataKey, VaultError> {
        self.settle_change()?;
        let file = self.read_key_file()?;
        if let Some(file) = &file {
            self.check_belongs(file)?;
        }
        match file {
            Some(KeyFile::None { key, .. }) => {
                let bytes = Zeroizing::new(
                    hex::decode(key)
                        .map_err(|_| VaultError::BadKeyFile { path: self.key_path(), why: "unreadable key".into() })?,
                );
                DataKey::from_slice(&bytes).ok_or_else(|| VaultError::BadKeyFile {
                    path: self.key_path(),
                    why: "the key is not 32 bytes".into(),
                })
            }
            Some(KeyFile::Keystore { .. }) => match self.keystore.get(Kept::DataKey) {
                Ok(Some(bytes)) => Ok(DataKey::from_bytes(&bytes)),
                Ok(None) => Err(VaultError::BadKeyFile {
                    path: self.key_path(),
                    why: "it says the journal's key is in this phone's keystore, and it isn't there: the key file \
                          was replaced, or the journal came from another phone. Nothing was opened"
                        .into(),
                }),
                Err(why) => Err(VaultError::BadKeyFile { path: self.key_path(), why }),
            },
            Some(KeyFile::Passcode { .. }) | None if self.state()? == LockState::Unencrypted => Err(VaultError::Locked),
            Some(KeyFile::Passcode { .. }) => Err(VaultError::Locked),
            None => Err(VaultError::NotSetUp(self.dir.clone())),
        }
    }

    fn write_key(&self, key: &DataKey, passcode: Option<&str>) -> Result<(), VaultError> {
        self.write_key_named(key, passcode, String::new())
    }

    fn write_key_named(&self, key: &DataKey, passcode: Option<&str>, key_id: String) -> Result<(), VaultError> {
        let file = self.key_file_for(key, passcode, key_id)?;
        let text = Zeroizing::new(serde_json::to_string(&file).expect("a key file always serialises"));
        write_private_file(&self.key_path(), text.as_bytes())?;
        self.empty_keystore_behind(&file)
    }

    /// With a passcode the data key is reachable only through the passcode: the keystore
    /// holds no data key, so a key file swapped for one that names the keystore opens
    /// nothing. Without one, the phone's part of a passcode's lock is forgotten.
    fn empty_keystore_behind(&self, file: &KeyFile) -> Result<(), VaultError> {
        if !self.keystore.available() {
            return Ok(());
        }
        let (what, why) = match file {
            KeyFile::Passcode { .. } => (Kept::DataKey, "the journal's key"),
            _ => (Kept::PasscodePepper, "the passcode's part"),
        };
        self.keystore.remove(what).map_err(|e| VaultError::BadKeyFile {
            path: self.key_path(),
            why: format!("the phone's keystore still holds {why} and won't let it go ({e})"),
        })
    }

    /// The phone's part of the passcode's lock, from the keystore.
    fn phones_part(&self) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        match self.keystore.get(Kept::PasscodePepper) {
            Ok(Some(part)) => Ok(part),
            Ok(None) => Err(VaultError::BadKeyFile {
                path: self.key_path(),
                why: "the passcode's lock is tied to the phone it was set on, and this phone's keystore does not \
                      hold its part: the folder was copied from another phone, or the keystore was reset. Nothing \
                      was opened and no try was counted; on a new phone, import an export"
                    .into(),
            }),
            Err(why) => Err(VaultError::BadKeyFile {
                path: self.key_path(),
                why: format!("the phone's keystore did not give the passcode's part ({why}); no try was counted"),
            }),
        }
    }

    /// The phone's part of the passcode's lock, made on first use and the same after:
    /// a passcode change keeps it, so the key file still in place opens until the new one
    /// replaces it. `None` where there is no keystore, or where it does not give back what
    /// it was given (the lock then rests on the passcode alone, as on a desktop).
    fn phones_part_to_bind(&self) -> Option<Zeroizing<[u8; 32]>> {
        if !self.keystore.available() {
            return None;
        }
        let kept = match self.keystore.get(Kept::PasscodePepper) {
            Ok(Some(part)) => return Some(part),
            Ok(None) => {
                let mut part = Zeroizing::new([0u8; 32]);
                key::fill_random(part.as_mut());
                self.keystore.put(Kept::PasscodePepper, &part).map(|()| part)
            }
            Err(e) => Err(e),
        };
        match (kept, self.keystore.get(Kept::PasscodePepper)) {
            (Ok(part), Ok(Some(back))) if *back == *part => Some(part),
            (outcome, _) => {
                tracing::warn!(
                    "the phone's keystore did not keep the passcode's part ({:?}): the lock rests on the passcode alone",
                    outcome.err()
                );
                None
            }
        }
    }

    /// The key file that keeps `key` behind `passcode` (or without one), named `key_id`.
    fn key_file_for(&self, key: &DataKey, passcode: Option<&str>, key_id: String) -> Result<KeyFile, VaultError> {
        // Without a passcode, a phone's keystore holds the data key: it is written before
        // the key file names it.
        let in_keystore = passcode.is_none()
            && self.keystore.available()
            && match self.keystore.put(Kept::DataKey, key.bytes()) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("the phone's keystore refused the journal's key: {e}");
                    false
                }
            };
        let file = match passcode {
            Some(p) => {
                let mut salt = [0u8; 16];
                key::fill_random(&mut salt);
                let mut wrapping =
                    KDF.derive(p, &salt).map_err(|why| VaultError::BadKeyFile { path: self.key_path(), why })?;
                let part = self.phones_part_to_bind();
                if let Some(part) = &part {
                    wrapping = with_phones_part(&wrapping, part);
                }
                let wrapped = DataKey::from_bytes(&wrapping).seal(WRAP_AAD, key.bytes());
                KeyFile::Passcode {
                    // An earlier Steady would take a bound file for a wrong passcode.
                    format: if part.is_some() { 2 } else { 1 },
                    kdf: KDF,
                    salt: hex::encode(salt),
                    wrapped_key: hex::encode(wrapped),
                    key_id,
                    on_this_phone: part.is_some(),
                }
            }
            None if in_keystore => KeyFile::Keystore { format: 1, key_id },
            None => KeyFile::None { format: 1, key: hex::encode(key.bytes()), key_id },
        };
        Ok(file)
    }

    fn read_tries(&self) -> Tries {
        // An unreadable count is read as the most cautious one that is still a count: the
        // wait it earned stays (from another boot: all of it), a damaged file never
        // unlocks more tries.
        match std::fs::read(self.tries_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Tries { wrong: FREE_TRIES, ..Tries::default() }),
            Err(_) => Tries::default(),
        }
    }

    fn write_tries(&self, tries: &Tries) -> Result<(), VaultError> {
        write_private_file(&self.tries_path(), &serde_json::to_vec(tries).expect("tries always serialise"))
    }

    fn clear_tries(&self) -> Result<(), VaultError> {
        match std::fs::remove_file(self.tries_path()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(VaultError::Io { what: "can't reset", path: self.tries_path(), source }),
        }
    }
}

/// The data key of a journal kept without a passcode, setting one up first if the
/// directory has none yet. For tests, benchmarks and tools that work on journals
/// without a passcode; a journal with a passcode answers `Locked`.
pub fn open_without_passcode(dir: &Path) -> Result<DataKey, VaultError> {
    let vault = Vault::at(dir);
    match vault.state()? {
        LockState::New | LockState::Unencrypted => vault.set_up(None),
        LockState::NoPasscode => vault.key_without_passcode(),
        LockState::Passcode => Err(VaultError::Locked),
    }
}

#[cfg(test)]
mod tests;
