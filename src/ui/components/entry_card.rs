//! One entry as a card: who wrote it, when, whether it is private or shared, what it
//! says, and what its author can do with it.

use chrono::Local;
use dioxus::prelude::*;

use crate::model::{AgreementStatus, Body, Entry, Outcome, SafetySide};
use crate::ui::components::{focus, focus_if};
use crate::ui::{JournalSignal, Notice, act};

#[component]
pub fn EntryCard(entry: Entry, journal: JournalSignal, notice: Notice) -> Element {
    let mut confirming_unshare = use_signal(|| false);
    // Set when the confirmation closes, so focus goes back to the button that opened it.
    let mut back_to_unshare = use_signal(|| false);
    let (mine, author, explained) = match &*journal.read() {
        Ok(j) => (j.is_mine(&entry), j.name_of(entry.author), j.sharing_explained),
        Err(_) => (false, String::new(), true),
    };
    let id = entry.id;
    let when = entry.created_at.with_timezone(&Local).format("%a %e %b, %H:%M").to_string();
    let (place, badge) = match (entry.shared, entry.waiting) {
        (true, false) => ("Shared", "badge shared"),
        (true, true) => ("Not sent yet", "badge waiting"),
        (false, _) => ("Private", "badge private"),
    };
    let kind = kind_label(&entry.body);
    let mut ticks = use_signal(|| 0u32);
    let undo_left = journal.read().as_ref().ok().and_then(|j| j.undo_left(id));
    let _ = ticks();
    let unshare = move |_| {
        let mut said = None;
        if act(journal, notice, |j| {
            said = Some(j.unshare(id)?);
            Ok(())
        }) {
            if confirming_unshare() {
                crate::ui::components::focus_screen();
            }
            confirming_unshare.set(false);
            let mut notice = notice;
            notice.set(said);
        }
    };
    let short = short_text(&entry.body);
    rsx! {
        article { class: "card", "data-entry": "{id}", "data-shared": "{entry.shared}", "data-waiting": "{entry.waiting}", "aria-label": "{kind} by {author}",
            div { class: "card-meta",
                span { class: "{badge}", "{place}" }
                span { class: "muted", "{kind} · {author} · {when}" }
            }
            EntryBody { body: entry.body.clone() }
            if entry.shared_before && !entry.shared {
                p { class: "hint", "Shared in an earlier pairing." }
            }
            if mine {
                div { class: "actions",
                    if entry.shared && entry.waiting && !entry.shared_before {
                        if undo_left.is_some() {
                            p { class: "hint", role: "status", "Sharing in a few seconds. Nothing has left this phone yet." }
                            button { class: "primary", "data-action": "undo", "aria-label": "Undo sharing '{short}'", onclick: unshare, "Undo" }
                        } else {
                            p { class: "hint", "Not sent yet: it leaves this phone at the next sync with your partner, or sealed in a letter while you are apart." }
                            button { class: "quiet", "data-action": "unshare", "aria-label": "Keep private: '{short}' is not sent yet", onclick: unshare, "Keep private" }
                        }
                    } else if entry.shared {
                        if confirming_unshare() {
                            div { class: "confirm", role: "group", "aria-label": "Unshare '{short}'?", "data-confirm": "unshare", "data-escape": "",
                                p { class: "hint", "Your partner's phone already has a copy, or will have one, and keeps it. Make it private again on this phone and stop sharing it?" }
                                button { class: "quiet", "data-action": "confirm-unshare", "aria-label": "Make private: '{short}'", onclick: unshare, "Make private" }
                                button { class: "quiet", "aria-label": "Keep shared: '{short}'", "data-on-escape": "",
                                    onmounted: focus,
                                    onclick: move |_| { confirming_unshare.set(false); back_to_unshare.set(true) },
                                    "Keep shared"
                                }
                            }
                        } else {
                            p { class: "hint", "data-sent": "true", "It has left this phone: your partner's phone has a copy, or will have one." }
                            button { class: "quiet", "data-action": "unshare", "aria-label": "Unshare '{short}'",
                                onmounted: move |e| focus_if(e, back_to_unshare),
                                onclick: move |_| confirming_unshare.set(true),
                                "Unshare"
                            }
                        }
                    } else {
                        button { class: "primary", "data-action": "share", "aria-label": "Share with partner: '{short}'", onclick: move |_| {
                            // Redraw once the undo has run out, so "Undo" goes away. (A test
                            // screen without a clock has no runtime, and redraws on its own.)
                            if act(journal, notice, |j| j.share(id)) && tokio::runtime::Handle::try_current().is_ok() {
                                spawn(async move {
                                    tokio::time::sleep(crate::store::UNDO_WINDOW).await;
                                    ticks += 1;
                                });
                            }
                        }, "Share with partner" }
                        if !explained {
                            p { class: "hint", "Sharing gives your partner a copy on their phone. For a few seconds after you tap it, and until it leaves this phone (at the next sync, or sealed in a letter), you can still take it back." }
                        }
                    }
                    if entry.archived {
                        button { class: "quiet", "data-action": "restore", "aria-label": "Restore '{short}'", onclick: move |_| { act(journal, notice, |j| j.restore(id)); }, "Restore" }
                    } else {
                        button { class: "quiet", "data-action": "archive", "aria-label": "Set aside '{short}': acknowledged, kept, out of your daily views", onclick: move |_| { act(journal, notice, |j| j.archive(id)); }, "Set aside" }
                    }
                }
            }
        }
    }
}

/// The first words of an entry, to name it in a button's accessible name.
pub fn short_text(body: &Body) -> String {
    let text = body.main_text();
    if text.chars().count() > 40 { text.chars().take(39).collect::<String>() + "…" } else { text.to_owned() }
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
