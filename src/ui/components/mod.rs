//! Pieces shared by several screens.

pub mod entry_card;
pub mod forms;
pub mod paged;
pub mod shell;
pub mod steadiness;
