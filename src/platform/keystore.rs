//! The phone's own secure key storage, holding the journal's 32-byte data key.
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

/// What [`keystore_put`] says where there is no keystore.
#[cfg(not(any(target_os = "android", target_os = "ios")))]
const NO_KEYSTORE: &str = "no keystore on this device";

/// Where the phone's own secure key storage can hold the journal's 32-byte data key.
/// `true` on Android and iOS, `false` on the desktop.
pub fn keystore_available() -> bool {
    cfg!(any(target_os = "android", target_os = "ios"))
}

/// Keeps `key` as the journal's data key, replacing any key kept before.
pub fn keystore_put(key: &[u8; 32]) -> Result<(), String> {
    #[cfg(target_os = "android")]
    {
        android::put(key)
    }
    #[cfg(target_os = "ios")]
    {
        ios::put(key)
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        let _ = key;
        Err(NO_KEYSTORE.to_string())
    }
}

/// The data key kept by [`keystore_put`], or `None` if none is kept (always `None` on the
/// desktop).
pub fn keystore_get() -> Result<Option<Zeroizing<[u8; 32]>>, String> {
    #[cfg(target_os = "android")]
    {
        android::get()
    }
    #[cfg(target_os = "ios")]
    {
        ios::get()
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        Ok(None)
    }
}

/// Forgets the data key. Removing a key that is not there is not an error.
pub fn keystore_remove() -> Result<(), String> {
    #[cfg(target_os = "android")]
    {
        android::remove()
    }
    #[cfg(target_os = "ios")]
    {
        ios::remove()
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
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

    use super::{KEYSTORE_ACCOUNT, KEYSTORE_SERVICE, data_key};

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

    fn entry() -> Result<Entry, String> {
        store()?
            .build(KEYSTORE_SERVICE, KEYSTORE_ACCOUNT, None)
            .map_err(|e| format!("could not open the data key's entry: {e}"))
    }

    pub(super) fn put(key: &[u8; 32]) -> Result<(), String> {
        entry()?.set_secret(key).map_err(|e| format!("could not keep the data key: {e}"))
    }

    pub(super) fn get() -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        match entry()?.get_secret() {
            Ok(secret) => data_key(secret).map(Some),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(format!("could not read the data key: {e}")),
        }
    }

    pub(super) fn remove() -> Result<(), String> {
        match entry()?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(format!("could not forget the data key: {e}")),
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

    use super::{KEYSTORE_ACCOUNT, KEYSTORE_SERVICE, data_key};

    /// `errSecItemNotFound`: no item matches.
    const ITEM_NOT_FOUND: i32 = -25300;

    fn item() -> PasswordOptions {
        PasswordOptions::new_generic_password(KEYSTORE_SERVICE, KEYSTORE_ACCOUNT)
    }

    fn not_found(e: &Error) -> bool {
        e.code() == ITEM_NOT_FOUND
    }

    pub(super) fn put(key: &[u8; 32]) -> Result<(), String> {
        // Adding over an item kept with other settings would keep those settings, so the
        // old item goes first.
        remove()?;
        let access =
            SecAccessControl::create_with_protection(Some(ProtectionMode::AccessibleWhenUnlockedThisDeviceOnly), 0)
                .map_err(|e| format!("could not describe the data key's protection: {e}"))?;
        let mut options = item();
        options.set_access_control(access);
        set_generic_password_options(key, options).map_err(|e| format!("could not keep the data key: {e}"))
    }

    pub(super) fn get() -> Result<Option<Zeroizing<[u8; 32]>>, String> {
        match generic_password(item()) {
            Ok(secret) => data_key(secret).map(Some),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(format!("could not read the data key: {e}")),
        }
    }

    pub(super) fn remove() -> Result<(), String> {
        match delete_generic_password_options(item()) {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(format!("could not forget the data key: {e}")),
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
        assert_eq!(keystore_put(&[7; 32]), Err("no keystore on this device".to_string()));
        assert_eq!(keystore_get(), Ok(None));
        assert_eq!(keystore_remove(), Ok(()));
        // Nothing was kept by the refused put.
        assert_eq!(keystore_get(), Ok(None));
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
