//! Files only this person can read: the data folder 0700, every file 0600 (on Unix), and
//! each small file replaced whole.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::VaultError;

/// Creates `dir` (and its parents) if needed, and makes it this user's alone.
pub fn make_private_dir(dir: &Path) -> Result<(), VaultError> {
    let io = |source| VaultError::Io { what: "can't create the data folder", path: dir.to_owned(), source };
    fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// Creates `path` for writing, failing if anything (a file or a symlink) is already
/// there; readable by this user alone.
pub fn write_new_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `path` with `bytes`, whole: a new file beside it (created exclusively, mode
/// 0600), synced, renamed over it, and the folder synced. A crash leaves the old file or
/// the new one.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), VaultError> {
    let io = |source| VaultError::Io { what: "can't write", path: path.to_owned(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut suffix = [0u8; 8];
    super::key::fill_random(&mut suffix);
    let tmp = dir.join(format!(".{name}.{}.partial", hex::encode(suffix)));
    let written = (|| {
        let mut file = write_new_file(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io)
}

/// Makes a rename in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
