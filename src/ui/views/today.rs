//! Today: the daily question, today's check-in, what both partners wrote today, and a
//! quick way to write any kind of entry.

use dioxus::prelude::*;

use crate::model::{Body, Entry, SafetySide};
use crate::ui::components::forms::{AgreementForm, CheckInForm, ReflectionForm, SafetyForm, TransparencyForm};
use crate::ui::components::paged::PagedCards;
use crate::ui::{Journal, JournalSignal, Notice, Tab};

#[component]
pub fn Today(journal: JournalSignal, notice: Notice, tab: Signal<Tab>) -> Element {
    let mut adding = use_signal(|| None::<&'static str>);
    let (current, written): (Option<String>, Vec<Entry>) = match &*journal.read() {
        Ok(j) => (
            j.my_check_in_today().and_then(|e| match &e.body {
                Body::DailyCheckIn { text, .. } => Some(text.clone()),
                _ => None,
            }),
            j.written_today().cloned().collect(),
        ),
        Err(_) => (None, Vec::new()),
    };
    rsx! {
        section { "aria-label": "Today's check-in",
            p { class: "lead", "Not \u{201c}why did this happen\u{201d}, but \u{201c}how can we both show up today\u{201d}." }
            // A new day starts from an empty field: the form is keyed by the day it is for.
            for day in [Journal::today()] {
                CheckInForm { key: "{day}", journal, notice, current: current.clone() }
            }
        }
        section { "aria-label": "Write something",
            h2 { "Write something" }
            div { class: "chips", role: "group", "aria-label": "Kind of entry",
                for (key, label) in [("helps", "Helps me feel secure"), ("harder", "Makes trust harder"), ("reflection", "Reflection"), ("agreement", "Agreement"), ("transparency", "Openness")] {
                    button {
                        key: "{key}",
                        class: if adding() == Some(key) { "chip current" } else { "chip" },
                        "aria-pressed": "{adding() == Some(key)}",
                        "data-add": key,
                        onclick: move |_| adding.set(if adding() == Some(key) { None } else { Some(key) }),
                        "{label}"
                    }
                }
            }
            match adding() {
                Some("helps") => rsx! { SafetyForm { journal, notice, side: SafetySide::Helps } },
                Some("harder") => rsx! { SafetyForm { journal, notice, side: SafetySide::Harder } },
                Some("reflection") => rsx! { ReflectionForm { journal, notice } },
                Some("agreement") => rsx! { AgreementForm { journal, notice } },
                Some("transparency") => rsx! { TransparencyForm { journal, notice } },
                _ => rsx! {},
            }
        }
        section { "aria-label": "Written today",
            h2 { "Written today" }
            if written.is_empty() {
                p { class: "empty", "Nothing yet today. One small, steady thing is enough." }
            }
            PagedCards { entries: written, journal, notice }
        }
        p { class: "muted",
            button { class: "link", onclick: move |_| tab.set(Tab::SetAside), "Set-aside entries" }
        }
    }
}
