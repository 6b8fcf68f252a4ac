//! Steady: an offline-first journal for couples rebuilding trust through small, steady
//! actions. See ARCHITECTURE.md for the map of this crate.

pub mod cli;
pub mod export;
pub mod model;
pub mod net;
pub mod platform;
pub mod store;
pub mod ui;
pub mod vault;
