//! One entry as a card: who wrote it, when, whether it is private or shared, what it
//! says, and what its author can do with it.

use chrono::Local;
use dioxus::prelude::*;

use crate::model::{AgreementStatus, Body, Entry, Outcome, SafetySide};
use crate::ui::{JournalSignal, Notice, act};

#[component]
pub fn EntryCard(entry: Entry, journal: JournalSignal, notice: Notice) -> Element {
    let mut confirming_unshare = use_signal(|| false);
    let (mine, author, explained) = match &*journal.read() {
        Ok(j) => (j.is_mine(&entry), j.name_of(entry.author), j.sharing_explained),
        Err(_) => (false, String::new(), true),
    };
    let id = entry.id;
    let when = entry.created_at.with_timezone(&Local).format("%a %e %b, %H:%M").to_string();
    let place = if entry.shared { "Shared" } else { "Private" };
    let kind = kind_label(&entry.body);
    rsx! {
        article { class: "card", "data-entry": "{id}", "data-shared": "{entry.shared}", "aria-label": "{kind} by {author}",
            div { class: "card-meta",
                span { class: if entry.shared { "badge shared" } else { "badge private" }, "{place}" }
                span { class: "muted", "{kind} · {author} · {when}" }
            }
            EntryBody { body: entry.body.clone() }
            if mine {
                div { class: "actions",
                    if entry.shared {
                        if confirming_unshare() {
                            p { class: "hint", "Your partner may already have seen it, and their phone keeps any copy it has. Make it private again?" }
                            button { class: "quiet", onclick: move |_| {
                                if act(journal, notice, |j| j.unshare(id)) { confirming_unshare.set(false); }
                            }, "Make private" }
                            button { class: "quiet", onclick: move |_| confirming_unshare.set(false), "Keep shared" }
                        } else {
                            button { class: "quiet", "aria-label": "Unshare this entry", onclick: move |_| confirming_unshare.set(true), "Unshare" }
                        }
                    } else {
                        button { class: "primary", "data-action": "share", onclick: move |_| { act(journal, notice, |j| j.share(id)); }, "Share with partner" }
                        if !explained {
                            p { class: "hint", "Sharing gives your partner a copy on their phone." }
                        }
                    }
                    if entry.archived {
                        button { class: "quiet", "data-action": "restore", onclick: move |_| { act(journal, notice, |j| j.restore(id)); }, "Restore" }
                    } else {
                        button { class: "quiet", "data-action": "archive", "aria-label": "Set aside: acknowledged, kept, out of the daily views", onclick: move |_| { act(journal, notice, |j| j.archive(id)); }, "Set aside" }
                    }
                }
            }
        }
    }
}

pub fn kind_label(body: &Body) -> &'static str {
    match body {
        Body::SafetyNeed { side: SafetySide::Helps, .. } => "Helps me feel secure",
        Body::SafetyNeed { side: SafetySide::Harder, .. } => "Makes trust harder",
        Body::Reflection { .. } => "Reflection",
        Body::Agreement { .. } => "Agreement",
        Body::DailyCheckIn { .. } => "Today's check-in",
        Body::Transparency { .. } => "Openness",
        Body::Unknown { .. } => "Entry",
    }
}

#[component]
fn EntryBody(body: Body) -> Element {
    match body {
        Body::SafetyNeed { text, .. } => rsx! { p { class: "text", "{text}" } },
        Body::Reflection { feeling, needing, understanding } => rsx! {
            p { class: "label", "I was feeling" }
            p { class: "text", "{feeling}" }
            if let Some(n) = needing {
                p { class: "label", "I was needing" }
                p { class: "text", "{n}" }
            }
            if let Some(u) = understanding {
                p { class: "label", "What I now understand" }
                p { class: "text", "{u}" }
            }
        },
        Body::Agreement { text, status, check_ins, .. } => {
            let kept = check_ins.iter().filter(|c| c.outcome == Outcome::Kept).count();
            let retired = status == AgreementStatus::Retired;
            rsx! {
                p { class: "text", "{text}" }
                p { class: "muted",
                    if retired { "Retired · " }
                    "Kept {kept} of {check_ins.len()} check-ins"
                }
            }
        }
        Body::DailyCheckIn { date, text } => rsx! {
            p { class: "label", "What trust looks like on {date}" }
            p { class: "text", "{text}" }
        },
        Body::Transparency { text, window } => {
            let when = window.map(|w| {
                let f = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&Local).format("%a %H:%M").to_string();
                format!("{} to {}", f(w.from), f(w.to))
            });
            rsx! {
                p { class: "text", "{text}" }
                if let Some(when) = when { p { class: "muted", "{when}" } }
            }
        }
        Body::Unknown { .. } => rsx! { p { class: "muted", "An entry from a newer version of Steady." } },
    }
}
