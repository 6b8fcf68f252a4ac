//! The passcode on the command line: where it comes from (`STEADY_PASSCODE`, or the
//! terminal when there is one), setting up, changing and removing it, and the
//! passphrase of encrypted exports.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

use crate::store::{Store, StoreError};
use crate::vault::{DataKey, LockState, Vault, VaultError};

/// The passcode of a journal that has one.
pub const PASSCODE_VAR: &str = "STEADY_PASSCODE";
/// The new passcode, for `passcode change`.
pub const NEW_PASSCODE_VAR: &str = "STEADY_NEW_PASSCODE";
/// The passphrase of an encrypted export, when it is not the journal's passcode.
pub const EXPORT_PASSPHRASE_VAR: &str = "STEADY_EXPORT_PASSPHRASE";

pub use crate::vault::{FORGOTTEN, WITHOUT_PASSCODE};

/// An unlocked journal: its data key. The passcode that unlocked it is not kept.
pub struct Unlocked {
    pub key: DataKey,
}

/// A secret from the environment variable `var`, or else asked for on the terminal,
/// if there is one. Wiped from memory when dropped.
pub fn secret(var: &str, prompt: &str) -> Result<Option<Zeroizing<String>>> {
    if let Some(value) = take_from_env(var)? {
        return Ok(Some(value));
    }
    Ok(ask_on_terminal(prompt)?.map(Zeroizing::new))
}

/// A new secret: from `var`, or typed twice on the terminal.
pub(crate) fn new_secret(var: &str, prompt: &str) -> Result<Option<Zeroizing<String>>> {
    if let Some(value) = take_from_env(var)? {
        return Ok(Some(value));
    }
    let Some(first) = ask_on_terminal(prompt)?.map(Zeroizing::new) else { return Ok(None) };
    let again = Zeroizing::new(ask_on_terminal("Type it again: ")?.unwrap_or_default());
    if again != first {
        bail!("the two passcodes typed are not the same; nothing was changed");
    }
    Ok(Some(first))
}

/// The secret in the environment variable `var`, if set, then wiped from the process's
/// environment: a command that runs for long (`sync`, `pair`) would otherwise hold it
/// there all along, where `/proc/PID/environ` shows it to every process of the same
/// user, and where a memory dump finds it. So it can be read once only.
fn take_from_env(var: &str) -> Result<Option<Zeroizing<String>>> {
    let Some(value) = std::env::var_os(var) else { return Ok(None) };
    let value = Zeroizing::new(value.into_string().map_err(|_| anyhow::anyhow!("{var} is not valid UTF-8"))?);
    if value.is_empty() {
        bail!("{var} is empty (or was already used by this command); nothing was opened");
    }
    wipe_env_value(var);
    Ok(Some(value))
}

/// Overwrites with zeros, in place, the value of `var` in the environment block the
/// process started with (the strings `/proc/PID/environ` reads). Other environment
/// variables are left as they are.
#[cfg(target_os = "linux")]
fn wipe_env_value(var: &str) {
    unsafe extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }
    let prefix = format!("{var}=");
    // SAFETY: `environ` is the C library's null-terminated array of null-terminated
    // strings. The command line reads its secrets before it starts any thread that
    // reads the environment, and only bytes inside one string's value are written.
    unsafe {
        let mut at = std::ptr::addr_of!(environ).read();
        while !at.is_null() && !(*at).is_null() {
            let entry = *at;
            if libc::strncmp(entry, prefix.as_ptr().cast(), prefix.len()) == 0 {
                let value = entry.add(prefix.len());
                for i in 0..libc::strlen(value) {
                    std::ptr::write_volatile(value.add(i), 0);
                }
            }
            at = at.add(1);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn wipe_env_value(_var: &str) {
    // The command line is for the desktop; elsewhere the value stays in the environment.
}

/// Unlocks the journal in `dir`. A journal written before encryption is set up with a
/// passcode now (or none, with `passcode remove`) and encrypted when it is opened.
pub fn unlock(dir: &Path) -> Result<Unlocked> {
    let vault = Vault::at(dir);
    match vault.state()? {
        LockState::New => Err(StoreError::NotSetUp.into()),
        LockState::NoPasscode => Ok(Unlocked { key: vault.key_without_passcode()? }),
        LockState::Passcode => {
            let passcode = secret(PASSCODE_VAR, "Steady passcode: ")?.ok_or(VaultError::Locked)?;
            let key = vault.unlock(&passcode)?;
            Ok(Unlocked { key })
        }
        LockState::Unencrypted => {
            Store::check_earlier_version(dir)?;
            let Some(passcode) =
                new_secret(PASSCODE_VAR, "This journal is encrypted from now on. Choose a passcode: ")?
            else {
                return Err(anyhow::Error::new(VaultError::Locked).context(
                    "this journal was written by an earlier version of Steady and is encrypted on its first unlock: \
                     choose its passcode in STEADY_PASSCODE, or run `steady passcode remove` to encrypt it without one",
                ));
            };
            let key = vault.set_up(Some(&passcode))?;
            Ok(Unlocked { key })
        }
    }
}

/// Opens the journal in `dir`, unlocking it first.
pub fn open(dir: &Path) -> Result<(Store, Unlocked)> {
    let unlocked = unlock(dir)?;
    let store = Store::open_dir(dir, &unlocked.key)?;
    Ok((store, unlocked))
}

/// `init`: the key of a new journal, locked with a passcode unless `no_passcode`; or,
/// for a journal already set up, its key as usual.
pub fn set_up(dir: &Path, no_passcode: bool, err: &mut dyn Write) -> Result<DataKey> {
    let vault = Vault::at(dir);
    if vault.state()? == LockState::Unencrypted {
        Store::check_earlier_version(dir)?;
    }
    match vault.state()? {
        LockState::New | LockState::Unencrypted if no_passcode => {
            writeln!(err, "{WITHOUT_PASSCODE}")?;
            Ok(vault.set_up(None)?)
        }
        LockState::New | LockState::Unencrypted => {
            let passcode = new_secret(
                PASSCODE_VAR,
                "Choose a passcode for Steady (a PIN of 6 digits or more, or a passphrase): ",
            )?;
            let Some(passcode) = passcode else {
                bail!(
                    "setting up needs a passcode of Steady's own, and there is no terminal to ask for one: give it in \
                     STEADY_PASSCODE, or add --no-passcode to set up without one. Nothing was written"
                );
            };
            let key = vault.set_up(Some(&passcode))?;
            writeln!(err, "{FORGOTTEN}")?;
            Ok(key)
        }
        LockState::Passcode if no_passcode => {
            bail!("Steady is already set up here with a passcode; `steady passcode remove` takes it off")
        }
        LockState::Passcode | LockState::NoPasscode => Ok(unlock(dir)?.key),
    }
}

/// `passcode change`: a new passcode, from STEADY_NEW_PASSCODE or the terminal. Only the
/// key file changes, replaced whole.
pub fn change(dir: &Path, out: &mut dyn Write) -> Result<()> {
    let vault = Vault::at(dir);
    let store = match vault.state()? {
        LockState::New => return Err(StoreError::NotSetUp.into()),
        LockState::Unencrypted => {
            Store::check_earlier_version(dir)?;
            None
        }
        LockState::NoPasscode | LockState::Passcode => Some(open(dir)?.0),
    };
    let new = new_secret(NEW_PASSCODE_VAR, "New passcode: ")?
        .context("give the new passcode in STEADY_NEW_PASSCODE, or run this at a terminal; nothing was changed")?;
    match store {
        Some(mut store) => {
            store.change_passcode(&vault, Some(&new))?;
        }
        None => {
            let key = vault.set_up(Some(&new))?;
            Store::open_dir(dir, &key)?;
        }
    }
    writeln!(out, "The passcode is changed. {FORGOTTEN}")?;
    Ok(())
}

/// `passcode remove`: the journal stays encrypted, its key kept without a passcode.
pub fn remove(dir: &Path, out: &mut dyn Write) -> Result<()> {
    let vault = Vault::at(dir);
    match vault.state()? {
        LockState::New => return Err(StoreError::NotSetUp.into()),
        LockState::NoPasscode => {
            writeln!(out, "Steady has no passcode here already.")?;
            return Ok(());
        }
        LockState::Unencrypted => {
            Store::check_earlier_version(dir)?;
            let key = vault.set_up(None)?;
            Store::open_dir(dir, &key)?;
        }
        LockState::Passcode => {
            open(dir)?.0.change_passcode(&vault, None)?;
        }
    }
    writeln!(out, "The passcode is removed. {WITHOUT_PASSCODE}")?;
    Ok(())
}

/// The shortest passphrase an export is encrypted with.
pub const EXPORT_PASSPHRASE_MIN: usize = 8;

/// The passphrase an encrypted export is written with: one of its own, never the
/// journal's passcode (a copy of the file must not be a way to guess the passcode, nor
/// the passcode a way into every copy). From STEADY_EXPORT_PASSPHRASE, or typed twice on
/// the terminal.
pub fn export_passphrase() -> Result<Zeroizing<String>> {
    let passphrase = new_secret(EXPORT_PASSPHRASE_VAR, "A passphrase for this export (not your passcode): ")?
        .context("an encrypted export needs a passphrase of its own: set STEADY_EXPORT_PASSPHRASE, or add --plaintext for an unencrypted file; nothing was written")?;
    if passphrase.chars().count() < EXPORT_PASSPHRASE_MIN {
        bail!("an export's passphrase needs at least {EXPORT_PASSPHRASE_MIN} characters; nothing was written");
    }
    Ok(passphrase)
}

/// The plaintext of an encrypted export, with its passphrase from
/// STEADY_EXPORT_PASSPHRASE or the terminal (never the journal's passcode).
pub fn decrypt_export(bytes: &[u8]) -> Result<Vec<u8>> {
    let passphrase = secret(EXPORT_PASSPHRASE_VAR, "The export's passphrase: ")?
        .context("this export is encrypted: give its passphrase in STEADY_EXPORT_PASSPHRASE")?;
    crate::export::file::decrypt(bytes, &passphrase).map_err(|e| anyhow::anyhow!(e))
}

/// Asks for a secret on the terminal, without echoing it. `None` when there is no
/// terminal.
fn ask_on_terminal(prompt: &str) -> Result<Option<String>> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") else {
            return Ok(None);
        };
        let fd = tty.as_raw_fd();
        // SAFETY: `termios` is plain data, filled by tcgetattr on an open descriptor.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `fd` is open for the life of `tty`.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Ok(None);
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        (&tty).write_all(prompt.as_bytes())?;
        // SAFETY: as above; the saved settings are put back below, whatever the read does.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        let mut line = String::new();
        let read = std::io::BufReader::new(&tty).read_line(&mut line);
        // SAFETY: as above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        read?;
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
    }
    #[cfg(not(unix))]
    {
        let _ = prompt;
        Ok(None)
    }
}
