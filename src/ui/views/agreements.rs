//! Agreements: the active ones with one-tap check-ins, retiring and renewing, and the
//! steadiness picture.

use dioxus::prelude::*;

use crate::model::{AgreementStatus, Body, Entry, Outcome, Practice, steadiness};
use crate::ui::components::entry_card::{EntryCard, short_text};
use crate::ui::components::forms::AgreementForm;
use crate::ui::components::paged::PAGE;
use crate::ui::components::steadiness::Steadiness;
use crate::ui::components::{focus, focus_if, typed};
use crate::ui::{Journal, JournalSignal, Notice, act};

#[component]
pub fn Agreements(journal: JournalSignal, notice: Notice) -> Element {
    let mut shown = use_signal(|| PAGE);
    let mine: Vec<crate::model::EntryId> = match &*journal.read() {
        Ok(j) => j.entries.iter().filter(|e| j.is_mine(e)).map(|e| e.id).collect(),
        Err(_) => Vec::new(),
    };
    let (active, retired, weeks) = match &*journal.read() {
        Ok(j) => {
            let all: Vec<Entry> = j.active(Practice::Agreements).cloned().collect();
            let (active, retired): (Vec<Entry>, Vec<Entry>) = all
                .into_iter()
                .partition(|e| matches!(e.body, Body::Agreement { status: AgreementStatus::Active, .. }));
            (active, retired, steadiness::weekly(&j.entries, Journal::today()))
        }
        Err(_) => (Vec::new(), Vec::new(), Vec::new()),
    };
    rsx! {
        section { "aria-label": "Steadiness",
            h2 { "Steadiness, week by week" }
            Steadiness { weeks }
        }
        section { "aria-label": "Active agreements",
            h2 { "Active" }
            if active.is_empty() {
                p { class: "empty", "No agreements yet. Small ones are the ones that get kept." }
            }
            for e in active.iter().take(shown()).cloned() {
                div { key: "{e.id}", class: "agreement",
                    EntryCard { entry: e.clone(), journal, notice }
                    CheckInButtons { id: e.id, short: short_text(&e.body), journal, notice }
                    if mine.contains(&e.id) {
                        Reword { entry: e.clone(), journal, notice }
                    }
                }
            }
            if active.len() > shown() {
                button { class: "quiet more", "data-action": "more", onclick: move |_| shown += PAGE,
                    "Show more agreements"
                }
            }
            AgreementForm { journal, notice }
        }
        if !retired.is_empty() {
            section { "aria-label": "Retired agreements",
                h2 { "Retired" }
                for e in retired {
                    div { key: "{e.id}", class: "agreement",
                        EntryCard { entry: e.clone(), journal, notice }
                        button { class: "quiet", "aria-label": "Renew '{short_text(&e.body)}'", onclick: move |_| { act(journal, notice, |j| j.set_agreement_status(e.id, AgreementStatus::Active)); }, "Renew" }
                    }
                }
            }
        }
    }
}

/// Kept, missed or renegotiated, in one tap; a note is optional. Each outcome is a submit
/// button of one form: its tap says which (the click comes just before the submit), and
/// the submit carries the note as it was typed.
#[component]
fn CheckInButtons(id: crate::model::EntryId, short: String, journal: JournalSignal, notice: Notice) -> Element {
    let mut done = use_signal(|| None::<Outcome>);
    let mut chosen = use_signal(|| None::<Outcome>);
    // A check-in remounts the form, so the note's field is empty for the next one.
    let mut saved = use_signal(|| 0u32);
    rsx! {
        for n in [saved()] {
            form { key: "{n}", class: "check-in", role: "group", "aria-label": "How did '{short}' go today?",
                "data-form": "check-in",
                onsubmit: move |e| {
                    e.prevent_default();
                    let Some(outcome) = chosen.take() else { return };
                    let text = typed(&e, "note");
                    let note = if text.trim().is_empty() { None } else { Some(text.as_str()) };
                    if act(journal, notice, |j| j.check_in(id, outcome, note)) {
                        done.set(Some(outcome));
                        saved += 1;
                    }
                },
                // Enter in the note chooses no outcome: the form's first submit button,
                // which Enter would press, is this disabled one, and no one sees it.
                button { r#type: "submit", disabled: true, hidden: true, "aria-hidden": "true", tabindex: "-1" }
                label { r#for: "note-{id}", class: "label", "How did it go today? (a note is optional)" }
                input { id: "note-{id}", name: "note", placeholder: "A note, if you like" }
                div { class: "actions",
                    button { r#type: "submit", "data-outcome": "kept", "aria-label": "Kept '{short}' today",
                        onclick: move |_| chosen.set(Some(Outcome::Kept)), "Kept" }
                    button { r#type: "submit", "data-outcome": "missed", "aria-label": "Missed '{short}' today",
                        onclick: move |_| chosen.set(Some(Outcome::Missed)), "Missed" }
                    button { r#type: "submit", "data-outcome": "renegotiated", "aria-label": "Renegotiated '{short}' today",
                        onclick: move |_| chosen.set(Some(Outcome::Renegotiated)), "Renegotiated" }
                    button { r#type: "button", class: "quiet", "aria-label": "Retire '{short}'", onclick: move |_| { act(journal, notice, |j| j.set_agreement_status(id, AgreementStatus::Retired)); }, "Retire" }
                }
                if let Some(o) = done() {
                    p { class: "muted", role: "status", "Noted: {o}." }
                }
            }
        }
    }
}

/// Renegotiating an agreement's words: its author rewrites it; its check-ins stay.
#[component]
fn Reword(entry: Entry, journal: JournalSignal, notice: Notice) -> Element {
    let mut open = use_signal(|| false);
    let current = match &entry.body {
        Body::Agreement { text, .. } => text.clone(),
        _ => String::new(),
    };
    let id = entry.id;
    let short = short_text(&entry.body);
    let mut back = use_signal(|| false);
    let mut close = move || {
        open.set(false);
        back.set(true);
    };
    if !open() {
        return rsx! {
            button { class: "quiet", "data-action": "reword", "aria-label": "Renegotiate the words of '{short}'",
                onmounted: move |e| focus_if(e, back),
                onclick: move |_| open.set(true),
                "Renegotiate the words"
            }
        };
    }
    rsx! {
        form { class: "entry-form", "data-form": "reword",
            "data-escape": "",
            onsubmit: move |e| {
                e.prevent_default();
                let text = typed(&e, "text");
                if act(journal, notice, |j| j.edit(id, crate::model::Draft::Agreement { text })) {
                    close();
                }
            },
            label { r#for: "reword-{id}", "The agreement, as you both now see it" }
            input { id: "reword-{id}", name: "text", initial_value: "{current}", onmounted: focus }
            div { class: "actions",
                button { r#type: "submit", class: "primary", "Save the new words" }
                button { r#type: "button", class: "quiet", "data-on-escape": "", onclick: move |_| close(), "Cancel" }
            }
        }
    }
}
