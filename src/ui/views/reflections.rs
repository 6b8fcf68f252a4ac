//! Reflections: what I was feeling and needing, without blame.

use dioxus::prelude::*;

use crate::model::{Entry, Practice};
use crate::ui::components::forms::ReflectionForm;
use crate::ui::components::paged::PagedCards;
use crate::ui::{JournalSignal, Notice};

#[component]
pub fn Reflections(journal: JournalSignal, notice: Notice) -> Element {
    let entries: Vec<Entry> = match &*journal.read() {
        Ok(j) => j.active(Practice::Understanding).cloned().collect(),
        Err(_) => Vec::new(),
    };
    rsx! {
        p { class: "lead", "Understanding is not excusing. It keeps us grounded enough to move toward repair." }
        ReflectionForm { journal, notice }
        PagedCards { entries, journal, notice }
    }
}
