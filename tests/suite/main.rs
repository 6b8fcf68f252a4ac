//! The tests of one phone's app and command line, as one test binary: the build links it
//! once instead of once per file, and its tests run side by side. The network node's
//! tests (`tests/net.rs`) and the phones on a simulated Wi-Fi (`tests/lan.rs`) keep their
//! own binaries: they measure time, and run best without company.

#[path = "../common/mod.rs"]
mod common;
#[path = "../harness/mod.rs"]
mod harness;

mod cli;
mod components;
mod durability;
mod keystrokes;
mod letters;
mod letters_sim;
mod lock;
mod lock_screen;
mod merge;
mod moving;
mod phone_config;
mod privacy;
mod sim;
mod sync_screen;
mod tidy;
