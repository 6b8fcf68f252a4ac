//! Phone-only code: where the journal lives on a phone and keeping it out of backups, the
//! phone's own keystore for the journal's data key, the Wi-Fi multicast lock that lets
//! partners' phones find each other on Android, keeping entries out of screenshots, and
//! whether the app is in the foreground.
//!
//! Every item exists on every target, so callers need no `cfg` of their own. On Android and
//! iOS it does the real work; on the desktop it does nothing, or the obvious thing.
//!
//! | item | Android | iOS | desktop |
//! |---|---|---|---|
//! | [`phone_data_dir`] | the app's private files directory (`Context.getFilesDir()`) | `Library/Application Support/Steady` in the app's container, created and kept out of backups | `None` |
//! | [`exclude_from_backup`] | nothing: the manifest keeps the whole app out of backups | sets `NSURLIsExcludedFromBackupKey` on the directory | nothing |
//! | [`keystore_put`] and the rest of [`keystore`] | a key in the Android Keystore encrypts the data key, or the passcode's part | a Keychain item, this device only, readable while unlocked | no keystore |
//! | [`MulticastLock`] | holds a `WifiManager.MulticastLock` named `steady-sync` | nothing to hold | nothing to hold |
//! | [`secure_window`] | sets `FLAG_SECURE` on the activity's window, on the UI thread | nothing (see [`use_foreground`]) | nothing |
//! | [`request_local_network`] | asks for `ACCESS_LOCAL_NETWORK` on Android 17 and later | nothing: iOS asks by itself the first time | nothing |
//! | [`keep_courier_service`] | starts `CourierService`, the courier's foreground service | schedules the courier's two background tasks | nothing |
//! | [`register_background_carry`] | nothing | registers those tasks with `BGTaskScheduler`, before launch | nothing |
//! | [`leaving_foreground`] | nothing: the service carries on | `beginBackgroundTask`: the courier runs until the letters just made have left | nothing |
//! | [`use_foreground`] | `false` from `onPause` to `onResume` | `false` from "will resign active" to "did become active" | always `true` |
//!
//! # The lifecycle
//!
//! A phone suspends an app in the background and its sockets die, so sync runs only while
//! the app is in the foreground. The root component reads [`use_foreground`] once and:
//!
//! - when it is `true`: takes a [`MulticastLock`] (Android filters out the multicast that
//!   mDNS discovery needs unless an app holds one), then starts the LAN sync;
//! - when it turns `false`: stops the sync and drops the lock, which releases it;
//! - on iOS, while it is `false`, draws a plain cover over the content, so that the
//!   app-switcher snapshot shows no entries. Android gets the same from [`secure_window`],
//!   called once before the app launches.
//!
//! ```ignore
//! let foreground = steady::platform::use_foreground();
//! use_effect(move || {
//!     if foreground() { /* MulticastLock::acquire(), then start sync */ }
//!     else { /* stop sync, drop the lock */ }
//! });
//! ```
//!
//! A sync cut off half-way does no harm: every change received is written to the journal
//! in one SQLite transaction, so it is stored whole or not at all, and the next sync works
//! out afresh, from both phones' documents, what the other phone still lacks.

#[cfg(target_os = "android")]
mod android;
#[cfg(target_os = "ios")]
mod ios;
pub mod keystore;
mod lifecycle;

use std::path::{Path, PathBuf};

pub use keystore::{Kept, keystore_available, keystore_get, keystore_put, keystore_remove};
pub use lifecycle::use_foreground;

/// `WindowManager.LayoutParams.FLAG_SECURE`: the window's content never appears in
/// screenshots, screen recordings or the recent-apps thumbnail.
pub const FLAG_SECURE: i32 = 0x2000;

/// The directory a phone keeps the journal in, or `None` off a phone (the desktop uses
/// `cli::default_data_dir`).
///
/// - Android: the app's private files directory, which no other app can read and which is
///   removed with the app.
/// - iOS: `Library/Application Support/Steady` inside the app's container, which other apps
///   cannot read and which the Files app does not show. It is created here and marked with
///   [`exclude_from_backup`], so neither iCloud nor a computer's backup copies the journal.
pub fn phone_data_dir() -> Option<PathBuf> {
    #[cfg(target_os = "android")]
    {
        match android::files_dir() {
            Ok(dir) => Some(dir),
            Err(e) => {
                eprintln!("steady: could not find the app's files directory: {e}");
                None
            }
        }
    }
    #[cfg(target_os = "ios")]
    {
        let dir = PathBuf::from(std::env::var_os("HOME")?).join("Library/Application Support/Steady");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("steady: could not create {}: {e}", dir.display());
            return None;
        }
        // Marked at every launch: a restored or moved folder can lose the mark.
        if let Err(e) = exclude_from_backup(&dir) {
            eprintln!("steady: could not keep {} out of backups: {e}", dir.display());
        }
        Some(dir)
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        None
    }
}

/// Keeps `dir`, which must exist, and everything in it out of the phone's backups.
///
/// - iOS: sets `NSURLIsExcludedFromBackupKey` on it, which iCloud Backup and backups made
///   with a computer both honour.
/// - Android: does nothing. `platforms/android/AndroidManifest.xml` turns backups off for
///   the whole app (`android:allowBackup="false"`) and its backup and data-extraction
///   rules exclude every directory, for cloud backup and for moving to a new phone alike.
/// - Desktop: does nothing; the journal is as safe as the computer's own backups.
pub fn exclude_from_backup(dir: &Path) -> Result<(), String> {
    #[cfg(target_os = "ios")]
    {
        ios::exclude_from_backup(dir)
    }
    #[cfg(not(target_os = "ios"))]
    {
        let _ = dir;
        Ok(())
    }
}

/// While one of these is alive, Android delivers the Wi-Fi multicast that mDNS discovery
/// needs (it filters it out otherwise, to save battery). Dropping it releases the lock.
/// Elsewhere it holds nothing.
///
/// Take one when sync starts and drop it when sync stops: holding it in the background
/// drains the battery.
#[must_use = "the lock is released as soon as it is dropped"]
pub struct MulticastLock {
    #[cfg(target_os = "android")]
    lock: android::WifiLock,
}

impl MulticastLock {
    /// Takes the lock. On Android this needs the `CHANGE_WIFI_MULTICAST_STATE` permission,
    /// which Dioxus.toml declares; the error says what failed.
    pub fn acquire() -> Result<MulticastLock, String> {
        #[cfg(target_os = "android")]
        {
            Ok(MulticastLock { lock: android::WifiLock::acquire()? })
        }
        #[cfg(not(target_os = "android"))]
        {
            Ok(MulticastLock {})
        }
    }
}

impl Drop for MulticastLock {
    fn drop(&mut self) {
        #[cfg(target_os = "android")]
        self.lock.release();
    }
}

impl std::fmt::Debug for MulticastLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MulticastLock")
    }
}

/// Keeps the app's content out of screenshots, screen recordings and the recent-apps
/// thumbnail. Call it once, before or after launch, from any thread.
///
/// On Android it sets [`FLAG_SECURE`] on the activity's window. Android lets only the UI
/// thread change a window, and Dioxus runs the app on a thread of its own, so the call is
/// handed to the UI thread's looper (through wry, which Dioxus uses for the web view) and
/// returns at once. Elsewhere it does nothing: iOS has no such flag, so the app covers its
/// content while [`use_foreground`] is `false`.
pub fn secure_window() {
    #[cfg(all(target_os = "android", any(feature = "desktop", feature = "mobile")))]
    android::secure_window();
}

/// Asks the person, once, to let Steady reach their partner's phone on the local network.
///
/// Android 17 puts the local network (mDNS and LAN connections alike) behind the runtime
/// permission `ACCESS_LOCAL_NETWORK` for apps that target it. On Android 17 and later this
/// shows the system's question if the permission is not granted yet, and returns at once;
/// earlier Android and other systems need nothing. iOS shows its own question, with the
/// `NSLocalNetworkUsageDescription` text, the first time the app uses the local network.
pub fn request_local_network() {
    #[cfg(all(target_os = "android", any(feature = "desktop", feature = "mobile")))]
    android::request_local_network();
}

/// Starts the phone's background service that keeps the courier running while the app is
/// gone (`net::courier`). Android: `CourierService`, a foreground service of type
/// `connectedDevice` (platforms/android/MainActivity.kt). iOS has no such service: this
/// asks `BGTaskScheduler` for its two background tasks (see
/// [`register_background_carry`]). A desktop needs none.
pub fn keep_courier_service() {
    #[cfg(all(target_os = "android", any(feature = "desktop", feature = "mobile")))]
    android::start_courier_service();
    #[cfg(target_os = "ios")]
    if let Err(e) = ios::schedule_background_tasks() {
        tracing::info!("no background fetch scheduled: {e}");
    }
}

/// iOS: registers the courier's two background tasks with `BGTaskScheduler`: a
/// `BGAppRefreshTask` (about 30 s) and a `BGProcessingTask` (minutes, on a network),
/// which iOS runs when it sees fit, and in which the courier fetches letters from the
/// couple's home relay and leaves its own. iOS takes registrations only while the app
/// launches, so call it once, before `launch`. Elsewhere it does nothing.
pub fn register_background_carry() {
    #[cfg(target_os = "ios")]
    if let Err(e) = ios::register_background_tasks(carry_fetching) {
        tracing::warn!("{e}");
    }
}

/// The app leaves the foreground: on iOS, asks for the time `beginBackgroundTask` gives
/// (about 30 s) and holds the courier up in it until every letter made here has left, for
/// the partner's phone or a relay, or the time is up. A letter made at share time leaves
/// once its undo window ends, within that time. Elsewhere it does nothing: Android's
/// service and the desktop's courier run on.
pub fn leaving_foreground() {
    #[cfg(target_os = "ios")]
    ios::carry_while_leaving(carry_leaving);
}

#[cfg(target_os = "ios")]
fn carry_leaving(limit: std::time::Duration, stop: &std::sync::atomic::AtomicBool) {
    carry(limit, true, stop);
}

#[cfg(target_os = "ios")]
fn carry_fetching(limit: std::time::Duration, stop: &std::sync::atomic::AtomicBool) {
    carry(limit, false, stop);
}

/// The courier in a piece of iOS's background time, for the journal in the phone's folder.
#[cfg(target_os = "ios")]
fn carry(limit: std::time::Duration, until_sent: bool, stop: &std::sync::atomic::AtomicBool) {
    if let Some(dir) = phone_data_dir() {
        let config = crate::net::NetConfig::default();
        let held = crate::net::courier::hold(&dir, config, limit, until_sent, stop);
        tracing::info!("background time given back: {held:?}");
    }
}

/// Whether the phone's screen is off or the phone is locked: then Steady locks at once,
/// whatever its grace period. On Android, `PowerManager.isInteractive()` is false or
/// `KeyguardManager.isDeviceLocked()` true; a call that fails counts as locked. Elsewhere
/// (iOS keeps the app from running once the screen is off, and a desktop has no such
/// signal) it is `false`, and the grace period alone applies.
pub fn screen_off_or_locked() -> bool {
    #[cfg(all(target_os = "android", any(feature = "desktop", feature = "mobile")))]
    {
        android::screen_off_or_locked()
    }
    #[cfg(not(all(target_os = "android", any(feature = "desktop", feature = "mobile"))))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    fn off_a_phone_there_is_no_phone_data_dir() {
        assert_eq!(phone_data_dir(), None);
    }

    #[test]
    fn a_multicast_lock_can_be_taken_and_dropped_off_a_phone() {
        #[cfg(not(target_os = "android"))]
        {
            let lock = MulticastLock::acquire().expect("no lock to take off Android");
            drop(lock);
        }
    }

    #[test]
    #[cfg(not(target_os = "ios"))]
    fn off_ios_excluding_from_backup_changes_nothing() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        assert_eq!(exclude_from_backup(dir.path()), Ok(()));
        assert_eq!(std::fs::read_dir(dir.path()).expect("still there").count(), 0);
    }

    #[test]
    fn flag_secure_is_androids_value() {
        // android.view.WindowManager.LayoutParams.FLAG_SECURE
        assert_eq!(FLAG_SECURE, 8192);
    }
}
