//! Long lists show a page at a time, so a journal of thousands of entries opens as fast
//! as a new one.

use dioxus::prelude::*;

use crate::model::Entry;
use crate::ui::components::entry_card::EntryCard;
use crate::ui::{JournalSignal, Notice};

/// How many cards a list shows at first, and how many more each tap adds.
pub const PAGE: usize = 30;

#[component]
pub fn PagedCards(entries: Vec<Entry>, journal: JournalSignal, notice: Notice) -> Element {
    let mut shown = use_signal(|| PAGE);
    let total = entries.len();
    let rest = total.saturating_sub(shown());
    rsx! {
        for e in entries.into_iter().take(shown()) {
            EntryCard { key: "{e.id}", entry: e, journal, notice }
        }
        if rest > 0 {
            button { class: "quiet more", "data-action": "more", onclick: move |_| shown += PAGE,
                "Show {rest.min(PAGE)} more of {rest}"
            }
        }
    }
}
