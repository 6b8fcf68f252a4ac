//! The frame around every screen: the title, the sync badge, the notice line, and the
//! tab bar at the bottom, within reach of a thumb.

use dioxus::prelude::*;

use crate::ui::components::forms::NameForm;
use crate::ui::views;
use crate::ui::{JournalSignal, Notice, Tab};

#[component]
pub fn Shell(journal: JournalSignal, notice: Notice, tab: Signal<Tab>) -> Element {
    let (opened, set_up) = match &*journal.read() {
        Ok(j) => (None, j.me.is_some()),
        Err(e) => (Some(e.clone()), false),
    };
    if let Some(message) = opened {
        return rsx! {
            main { class: "screen",
                h1 { "Steady" }
                p { role: "alert", class: "error", "{message}" }
            }
        };
    }
    if !set_up {
        return rsx! { Welcome { journal, notice } };
    }
    let current = tab();
    rsx! {
        FocusOnTabChange { tab }
        div { class: "app",
            header { class: "top",
                h1 { id: "screen-title", "{current.title()}" }
                SyncBadge {}
            }
            if let Some(message) = notice() {
                p { class: "notice", role: "alert", "aria-live": "assertive",
                    "{message}"
                    button { class: "link", "aria-label": "Dismiss message", onclick: move |_| notice.set(None), "Dismiss" }
                }
            }
            PartnerMoved { journal, notice }
            main { class: "screen", id: "screen", tabindex: "-1", "aria-labelledby": "screen-title", "data-screen": current.slug(),
                match current {
                    Tab::Today => rsx! { views::today::Today { journal, notice, tab } },
                    Tab::Safety => rsx! { views::safety::Safety { journal, notice } },
                    Tab::Agreements => rsx! { views::agreements::Agreements { journal, notice } },
                    Tab::Reflections => rsx! { views::reflections::Reflections { journal, notice } },
                    Tab::Transparency => rsx! { views::transparency::Transparency { journal, notice } },
                    Tab::SetAside => rsx! { views::set_aside::SetAside { journal, notice } },
                    Tab::Us => rsx! { views::us::Us { journal, notice, tab } },
                }
            }
            // A tab list inside the navigation landmark: a screen reader hears each tab as
            // a tab, and which one is selected (WebKitGTK hands plain buttons with
            // aria-current to AT-SPI as push buttons).
            nav { class: "tabs", "aria-label": "Screens",
                div { class: "tab-list", role: "tablist", "aria-label": "Screens",
                    for t in Tab::BAR {
                        button {
                            key: "{t.slug()}",
                            role: "tab",
                            class: if t == current { "tab current" } else { "tab" },
                            "aria-selected": if t == current { "true" } else { "false" },
                            "aria-current": if t == current { "page" } else { "false" },
                            "aria-controls": "screen",
                            "data-tab": t.slug(),
                            onclick: move |_| tab.set(t),
                            "{t.label()}"
                        }
                    }
                }
            }
        }
    }
}

/// After a tab change, moves keyboard and screen-reader focus to the new screen, so the
/// next Tab lands in its first control and its title is read out. The first screen after
/// opening is left alone: focus there starts where the platform puts it.
#[component]
fn FocusOnTabChange(tab: Signal<Tab>) -> Element {
    let mut shown = use_signal(|| None::<Tab>);
    use_effect(move || {
        let now = tab();
        let before = *shown.peek();
        if before.is_some_and(|b| b != now) {
            document::eval("document.getElementById('screen')?.focus()");
        }
        if before != Some(now) {
            shown.set(Some(now));
        }
    });
    rsx! {}
}

/// Always visible: not paired, paused, offline, looking, connected or synced, and how
/// many shared changes wait to be sent.
#[component]
pub fn SyncBadge() -> Element {
    let (text, state) = match try_use_context::<crate::ui::service::SyncService>() {
        Some(service) => {
            let view = service.view.read();
            (view.badge(), view.state.slug())
        }
        None => ("Not paired".to_owned(), "not-paired"),
    };
    rsx! {
        span { class: "badge sync", role: "status", "data-sync": "{state}", "aria-label": "Sync status: {text}", "{text}" }
    }
}

/// The first screen on a new phone: the person's name.
#[component]
fn Welcome(journal: JournalSignal, notice: Notice) -> Element {
    rsx! {
        main { class: "screen welcome",
            h1 { "Steady" }
            p { "Trust is repaired through small, steady actions, not by re-arguing the past." }
            p { "Everything you write stays on this phone until you choose to share it, or move Steady to a new phone." }
            if let Some(message) = notice() {
                p { class: "notice", role: "alert", "{message}" }
            }
            NameForm { journal, notice, form: "welcome", field: "name", label: "The name your partner knows you by", start: "", save: "Begin" }
        }
    }
}

/// One honest line, once, after the partner moved Steady to a new phone: who and on which
/// day. It stays until this person dismisses it, and never comes back for that move.
#[component]
fn PartnerMoved(journal: JournalSignal, notice: Notice) -> Element {
    let line = journal.read().as_ref().ok().and_then(|j| j.partner_moved_line());
    let Some(line) = line else { return rsx! {} };
    rsx! {
        p { class: "notice", role: "status", "data-partner-moved": "",
            "{line}"
            button { class: "link", "aria-label": "Dismiss the line about the new phone",
                onclick: move |_| {
                    if let Ok(j) = journal.write().as_mut()
                        && let Err(e) = j.saw_partner_moved()
                    {
                        notice.set(Some(e));
                    }
                },
                "OK"
            }
        }
    }
}
