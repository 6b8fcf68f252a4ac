//! Transparency notes: plans and openness, offered freely. There is deliberately no way to
//! ask the partner for one.

use dioxus::prelude::*;

use crate::model::{Entry, Practice};
use crate::ui::components::forms::TransparencyForm;
use crate::ui::components::paged::PagedCards;
use crate::ui::{JournalSignal, Notice};

#[component]
pub fn Transparency(journal: JournalSignal, notice: Notice) -> Element {
    let entries: Vec<Entry> = match &*journal.read() {
        Ok(j) => j.active(Practice::Transparency).cloned().collect(),
        Err(_) => Vec::new(),
    };
    rsx! {
        p { class: "lead", "Openness works when it is offered, not asked for. Share what you'd like your partner to know." }
        TransparencyForm { journal, notice }
        PagedCards { entries, journal, notice }
    }
}
