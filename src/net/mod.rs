//! Pairing and sync between the partners' phones.
pub mod pairing;
