//! One view per screen.

pub mod agreements;
pub mod reflections;
pub mod safety;
pub mod set_aside;
pub mod today;
pub mod transparency;
pub mod us;
