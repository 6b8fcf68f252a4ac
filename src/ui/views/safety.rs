//! Safety needs: what helps each of us feel secure, and what makes trust harder, mine and
//! my partner's side by side.

use dioxus::prelude::*;

use crate::model::{Body, Entry, Practice, SafetySide};
use crate::ui::components::forms::SafetyForm;
use crate::ui::components::paged::PagedCards;
use crate::ui::{JournalSignal, Notice};

#[component]
pub fn Safety(journal: JournalSignal, notice: Notice) -> Element {
    let (entries, partner): (Vec<(Entry, bool)>, String) = match &*journal.read() {
        Ok(j) => (
            j.active(Practice::SafetyNeeds).map(|e| (e.clone(), j.is_mine(e))).collect(),
            j.names
                .iter()
                .find(|(id, _)| j.me.as_ref().is_none_or(|m| m.id != **id))
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| "Your partner".into()),
        ),
        Err(_) => (Vec::new(), String::new()),
    };
    let pick = |side: SafetySide, mine: bool| -> Vec<Entry> {
        entries
            .iter()
            .filter(|(e, m)| *m == mine && matches!(e.body, Body::SafetyNeed { side: s, .. } if s == side))
            .map(|(e, _)| e.clone())
            .collect()
    };
    rsx! {
        for (side, question) in [(SafetySide::Helps, "What helps you feel secure with me?"), (SafetySide::Harder, "What makes trust harder for you?")] {
            section { key: "{side}", "aria-label": "{question}",
                h2 { "{question}" }
                div { class: "side-by-side",
                    div { class: "column",
                        h3 { "Mine" }
                        PagedCards { entries: pick(side, true), journal, notice }
                        SafetyForm { journal, notice, side }
                    }
                    div { class: "column",
                        h3 { "{partner}'s, as shared" }
                        {
                            let theirs = pick(side, false);
                            if theirs.is_empty() {
                                rsx! { p { class: "empty", "Nothing shared yet." } }
                            } else {
                                rsx! { PagedCards { entries: theirs, journal, notice } }
                            }
                        }
                    }
                }
            }
        }
    }
}
