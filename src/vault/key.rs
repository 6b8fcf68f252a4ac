//! The data key and the one cipher everything at rest goes through: XChaCha20-Poly1305
//! with a fresh random 24-byte nonce per value, and the value's identity (its table and
//! row) as associated data, so a sealed value opens only where it was written.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const NONCE: usize = 24;
/// What sealing adds to a value: the nonce and the tag.
pub const OVERHEAD: usize = NONCE + 16;

/// The journal's 256-bit data key. Cloning shares it; the last clone dropped zeroes it.
#[derive(Clone)]
pub struct DataKey(Arc<Zeroizing<[u8; 32]>>);

/// A sealed value that does not open: damaged, moved to another row, or sealed with
/// another key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sealed value does not open with this key (damaged, moved, or another journal's)")]
pub struct Unsealable;

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A new key from the system's random source.
    pub fn random() -> DataKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut());
        DataKey(Arc::new(bytes))
    }

    pub fn from_bytes(bytes: &[u8; 32]) -> DataKey {
        DataKey(Arc::new(Zeroizing::new(*bytes)))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let array: &[u8; 32] = bytes.try_into().ok()?;
        Some(DataKey::from_bytes(array))
    }

    /// The key's bytes, to wrap it or hand it to the phone's keystore.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        let key: &[u8; 32] = &self.0;
        XChaCha20Poly1305::new(key.into())
    }

    /// `plain`, encrypted and authenticated together with `aad`: nonce, then ciphertext
    /// and tag.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plain, aad })
            .expect("XChaCha20-Poly1305 encrypts any length this app writes");
        let mut out = Vec::with_capacity(NONCE + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of a value [`DataKey::seal`] made with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
        if sealed.len() < OVERHEAD {
            return Err(Unsealable);
        }
        let (nonce, body) = sealed.split_at(NONCE);
        self.cipher().decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad }).map_err(|_| Unsealable)
    }

    /// A 16-byte lookup tag for `text`: equal texts give equal tags, and without the key
    /// a tag says nothing of its text. It lets a row be found by a field that stays
    /// sealed (a day's check-in by its date).
    pub fn lookup_tag(&self, text: &[u8]) -> [u8; 16] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..]).expect("HMAC takes any key length");
        mac.update(b"steady lookup tag v1\0");
        mac.update(text);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }
}

/// Fills `out` from the system's random source.
pub fn fill_random(out: &mut [u8]) {
    OsRng.fill_bytes(out);
}
