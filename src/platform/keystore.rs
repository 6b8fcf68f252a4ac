//! The phone's own secure key storage. It holds one of two 32-byte secrets, never both:
//! the journal's data key when there is no passcode, or, with a passcode, the phone's
//! part of the passcode's lock (`vault`: the wrapping key is made from the passcode and
//! this secret together, so a copy of the folder can't be guessed at anywhere else).
//!
//! | | Android | iOS | desktop |
//! |---|---|---|---|
//! | where the key is kept | encrypted with AES-GCM under a key that the Android Keystore holds and never lets out, in the app's private `SharedPreferences` file `keyring-steady` | a Keychain item (service `app.steady.Steady`, account `data-key`) readable only while the phone is unlocked, and never carried to another device (`kSecAttrAccessibleWhenUnlockedThisDeviceOnly`) | nowhere: [`keystore_available`] is `false` |
//!
//! On both phones the key stays on the phone it was made on: Android's Keystore keys
//! cannot leave the phone, so a copy of the preferences file is useless elsewhere (and
//! `platforms/android/res/xml` keeps it out of backups anyway), and a `ThisDeviceOnly`
//! Keychain item is not restored onto another iPhone.
//!
//! Every call may block briefly on the system's key service; none needs the UI thread.

use zeroize::Zeroizing;

/// The Keychain service, and the Android store's service name.
pub const KEYSTORE_SERVICE: &str = "app.steady.Steady";
/// The Keychain account, and the Android store's user name.
pub const KEYSTORE_ACCOUNT: &str = "data-key";
/// The same, for the phone's part of the passcode's lock.
pub const PEPPER_ACCOUNT: &str = "passcode-pepper";
/// The same, for the key the courier's profile is sealed with. On iOS it is readable
/// after the phone's first unlock (the courier runs while the phone is locked), and
/// never carried to another device.
pub const COURIER_ACCOUNT: &str = "courier-key";

/// Which secret the keystore is asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The journal's data key, kept here when there is no passcode.
    DataKey,
    /// The phone's part of the passcode's lock.
    PasscodePepper,
    /// The key of the courier's profile (`net::courier`): never the data key.
    CourierKey,
}

impl Kept {
    #[cfg_attr(not(any(target_os = "android", target_os = "ios")), allow(dead_code))]
    fn account(self) -> &'static str {
        match self {
            Kept::DataKey => KEYSTORE_ACCOUNT,
            Kept::PasscodePepper => PEPPER_ACCOUNT,
            Kept::CourierKey => COURIER_ACCOUNT,
        }
    }
}

/// What [`keystore_put`] says where there is no keystore.
#[cfg(not(any(target_os = "android", target_os = "ios")))]
const NO_KEYSTORE: &str = "no keystore on this device";

/// Where the phone's own secure key storage can hold the journal's 32-byte data key.
/// `true` on Android and iOS, `false` on the desktop.
pub fn keystore_available() -> bool {
    cfg!(any(target_os = "android", target_os = "ios"))
}

/// Keeps `key` as `what`, replacing any secret kept as it before.
pub fn keystore_put(what: Kept, key: &[u8; 32]) -> Result<(), String> {
    #[cfg(target_os = "android")]
    {
        android::put(what.account(), key)
    }
    #[cfg(target_os = "ios")]
    {
        ios::put(what.account(), key)
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        let _ = (what, key);
        Err(NO_KEYSTORE.to_string())
    }
}

/// The secret kept as `what` by [`keystore_put`], or `None` if none is kept (always
/// `None` on the desktop).
pub fn keystore_get(what: Kept) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
    #[cfg(target_os = "android")]
    {
        android::get(what.account())
    }
    #[cfg(target_os = "ios")]
    {
        ios::get(what.account())
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        let _ = what;
        Ok(None)
    }
}

/// Forgets the secret kept as `what`. Removing one that is not there is not an error.
pub fn keystore_remove(what: Kept) -> Result<(), String> {
    #[cfg(target_os = "android")]
    {
        android::remove(what.account())
    }
    #[cfg(target_os = "ios")]
    {
        ios::remove(what.account())
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        let _ = what;
        Ok(())
    }
}

/// A stored secret as a data key; anything but 32 bytes means the entry is damaged. The
/// secret is wiped either way.
#[cfg_attr(not(any(target_os = "android", target_os = "ios")), allow(dead_code))]
fn data_key(secret: Vec<u8>) -> Result<Zeroizing<[u8; 32]>, String> {
    let secret = Zeroizing::new(secret);
    let mut key = Zeroizing::new([0u8; 32]);
    if secret.len() != key.len() {
        return Err(format!("the kept data key has {} bytes, not {}", secret.len(), key.len()));
    }
    key.copy_from_slice(&secret);
    Ok(key)
}

/// Android: `android-native-keyring-store`, which keeps each secret in a private
/// `SharedPreferences` file, encrypted with AES-GCM under a Keystore key of its own. It
/// reaches the app through `ndk-context`, which tao fills in before `main` runs.
#[cfg(target_os = "android")]
mod android {
    use std::collections::HashMap;
    use std::sync::Arc;

    use android_native_keyring_store::Store;
    use keyring_core::api::CredentialStoreApi;
    use keyring_core::{Entry, Error};
    use zeroize::Zeroizing;

    use super::{KEYSTORE_SERVICE, data_key};

    /// The store's name: its preferences file is `keyring-steady`, and its Keystore key
    /// has the same alias.
    const STORE_NAME: &str = "steady";

    fn store() -> Result<Arc<Store>, String> {
        let configuration = HashMap::from([("name", STORE_NAME)]);
        // `ndk_context::android_context` panics when the app has not set it up.
        std::panic::catch_unwind(|| Store::new_with_configuration(&configuration))
            .map_err(|_| "Steady is not running inside its Android app".to_string())?
            .map_err(|e| format!("could not open the Android Keystore: {e}"))
    }

    fn entry(account: &str) -> Result<Entry, String> {
        store()?
            .build(KEYSTORE_SERVICE, account, None)
            .map_err(|e| format!("could not open the keystore's entry {account}: {e}"))
    }

    pub(super) fn put(account: &str, key: &[u8; 32]) -> Result<(), String> {
        entry(account)?.set_secret(key).map_err(|e| format!("could not keep {account}: {e}"))
    }

    pub(super) fn get(account: &str) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        match entry(account)?.get_secret() {
            Ok(secret) => data_key(secret).map(Some),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(format!("could not read {account}: {e}")),
        }
    }

    pub(super) fn remove(account: &str) -> Result<(), String> {
        match entry(account)?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(format!("could not forget {account}: {e}")),
        }
    }
}

/// iOS: a generic-password Keychain item, readable only while the phone is unlocked and
/// never restored onto another device.
#[cfg(target_os = "ios")]
mod ios {
    use security_framework::access_control::{ProtectionMode, SecAccessControl};
    use security_framework::base::Error;
    use security_framework::passwords::{
        PasswordOptions, delete_generic_password_options, generic_password, set_generic_password_options,
    };
    use zeroize::Zeroizing;

    use super::{KEYSTORE_SERVICE, data_key};

    /// `errSecItemNotFound`: no item matches.
    const ITEM_NOT_FOUND: i32 = -25300;

    fn item(account: &str) -> PasswordOptions {
        PasswordOptions::new_generic_password(KEYSTORE_SERVICE, account)
    }

    fn not_found(e: &Error) -> bool {
        e.code() == ITEM_NOT_FOUND
    }

    pub(super) fn put(account: &str, key: &[u8; 32]) -> Result<(), String> {
        // Adding over an item kept with other settings would keep those settings, so the
        // old item goes first.
        remove(account)?;
        // The courier runs while the phone is locked: its key is readable after the
        // first unlock. Every other secret only while the phone is unlocked.
        let protection = if account == super::COURIER_ACCOUNT {
            ProtectionMode::AccessibleAfterFirstUnlockThisDeviceOnly
        } else {
            ProtectionMode::AccessibleWhenUnlockedThisDeviceOnly
        };
        let access = SecAccessControl::create_with_protection(Some(protection), 0)
            .map_err(|e| format!("could not describe the data key's protection: {e}"))?;
        let mut options = item(account);
        options.set_access_control(access);
        set_generic_password_options(key, options).map_err(|e| format!("could not keep {account}: {e}"))
    }

    pub(super) fn get(account: &str) -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        match generic_password(item(account)) {
            Ok(secret) => data_key(secret).map(Some),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(format!("could not read {account}: {e}")),
        }
    }

    pub(super) fn remove(account: &str) -> Result<(), String> {
        match delete_generic_password_options(item(account)) {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(format!("could not forget {account}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    fn off_a_phone_there_is_no_keystore() {
        assert!(!keystore_available());
        for what in [Kept::DataKey, Kept::PasscodePepper] {
            assert_eq!(keystore_put(what, &[7; 32]), Err("no keystore on this device".to_string()));
            assert_eq!(keystore_get(what), Ok(None));
            assert_eq!(keystore_remove(what), Ok(()));
            // Nothing was kept by the refused put.
            assert_eq!(keystore_get(what), Ok(None));
        }
    }

    #[test]
    fn a_kept_secret_of_32_bytes_is_the_data_key() {
        let key = data_key((0..32).collect()).expect("32 bytes");
        assert_eq!(key.as_slice(), (0..32).collect::<Vec<u8>>().as_slice());
    }

    #[test]
    fn a_kept_secret_of_another_length_is_refused() {
        assert_eq!(data_key(vec![1; 31]).unwrap_err(), "the kept data key has 31 bytes, not 32");
        assert_eq!(data_key(Vec::new()).unwrap_err(), "the kept data key has 0 bytes, not 32");
    }
}
