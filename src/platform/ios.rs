//! Calls into iOS's Foundation framework.

use std::path::Path;

use objc2::runtime::AnyObject;
use objc2_foundation::{NSNumber, NSString, NSURL, NSURLIsExcludedFromBackupKey};

/// Sets `NSURLIsExcludedFromBackupKey` on `dir`, so that neither iCloud Backup nor a
/// backup made with a computer copies it or anything inside it. `dir` must exist.
pub(super) fn exclude_from_backup(dir: &Path) -> Result<(), String> {
    let path = dir.to_str().ok_or_else(|| format!("{} is not UTF-8", dir.display()))?;
    let url = NSURL::fileURLWithPath_isDirectory(&NSString::from_str(path), true);
    let excluded = NSNumber::numberWithBool(true);
    let value: &AnyObject = &excluded;
    // SAFETY: NSURLIsExcludedFromBackupKey takes an NSNumber holding a BOOL.
    unsafe { url.setResourceValue_forKey_error(Some(value), NSURLIsExcludedFromBackupKey) }
        .map_err(|e| e.localizedDescription().to_string())
}
