//! Set aside: entries acknowledged and archived. Kept, never deleted, restorable.

use dioxus::prelude::*;

use crate::model::Entry;
use crate::ui::components::paged::PagedCards;
use crate::ui::{JournalSignal, Notice};

#[component]
pub fn SetAside(journal: JournalSignal, notice: Notice) -> Element {
    let entries: Vec<Entry> = match &*journal.read() {
        Ok(j) => j.set_aside().cloned().collect(),
        Err(_) => Vec::new(),
    };
    rsx! {
        p { class: "lead", "Acknowledged and set aside. Nothing here is deleted; restore anything to bring it back." }
        if entries.is_empty() {
            p { class: "empty", "Nothing set aside." }
        }
        PagedCards { entries, journal, notice }
    }
}
