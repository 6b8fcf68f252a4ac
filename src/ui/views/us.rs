//! Us: the partner and sync area, exports, and how Steady works.

use dioxus::prelude::*;

use crate::cli::ExportFormat;
use crate::ui::sync::{Pairing, SyncLink, badge_text};
use crate::ui::{JournalSignal, Notice, Tab, act};

#[component]
pub fn Us(journal: JournalSignal, notice: Notice, tab: Signal<Tab>) -> Element {
    let name = journal.read().as_ref().ok().and_then(|j| j.me.as_ref().map(|m| m.name.clone())).unwrap_or_default();
    let mut new_name = use_signal(|| name.clone());
    let default_dir = directories::UserDirs::new()
        .and_then(|u| u.document_dir().map(|d| d.to_owned()).or_else(|| Some(u.home_dir().to_owned())))
        .unwrap_or_default();
    let mut export_path = use_signal(move || default_dir.join("steady-journal.json").display().to_string());
    let mut exported = use_signal(|| None::<String>);
    let mut export = move |format: ExportFormat| {
        let path = std::path::PathBuf::from(export_path());
        if act(journal, notice, |j| j.export(format, &path)) {
            exported.set(Some(format!("Saved to {}", path.display())));
        }
    };
    rsx! {
        Partner { journal }
        section { "aria-label": "You",
            h2 { "You" }
            form { class: "entry-form",
                onsubmit: move |e| { e.prevent_default(); act(journal, notice, |j| j.set_name(&new_name())); },
                label { r#for: "my-name", "Your name, as your partner sees it" }
                input { id: "my-name", value: "{new_name}", oninput: move |e| new_name.set(e.value()) }
                button { r#type: "submit", class: "quiet", "Save name" }
            }
        }
        section { "aria-label": "Keep a copy",
            h2 { "Keep a copy" }
            label { r#for: "export-path", "Where to save it" }
            input { id: "export-path", value: "{export_path}", oninput: move |e| export_path.set(e.value()) }
            div { class: "actions",
                button { "data-export": "json", onclick: move |_| export(ExportFormat::Json), "Save as JSON" }
                button { "data-export": "markdown", onclick: move |_| {
                    let p = export_path();
                    if let Some(stem) = p.strip_suffix(".json") { export_path.set(format!("{stem}.md")); }
                    export(ExportFormat::Markdown)
                }, "Save as Markdown" }
            }
            if let Some(done) = exported() {
                p { class: "muted", role: "status", "{done}" }
            }
        }
        section { "aria-label": "How Steady works",
            h2 { "How Steady works" }
            p { "Everything you write is private: it stays on this phone." }
            p { "\u{201c}Share with partner\u{201d} gives your partner a copy of that one entry. \u{201c}Unshare\u{201d} takes it back out of what you share, but a copy your partner's phone already received stays with them." }
            p { "Nothing can be requested, tracked or read without being offered. There are no read receipts, no locations and no streaks." }
            p { "Setting an entry aside keeps it, out of the daily views. Nothing is ever deleted." }
            button { class: "link", onclick: move |_| tab.set(Tab::SetAside), "See set-aside entries" }
        }
    }
}

/// Pairing, and sync with the partner once paired. Everything here is symmetric: either
/// phone can invite, either can pause or unpair, and the other phone is never told.
#[component]
fn Partner(journal: JournalSignal) -> Element {
    let Some(link) = try_use_context::<SyncLink>() else { return rsx! {} };
    let status = link.status.read().clone();
    let pairing = link.pairing.read().clone();
    let discovery_on = journal.read().as_ref().map(|j| j.discovery_on()).unwrap_or(true);
    let discovery_allowed = try_use_context::<crate::ui::sync::NetOptions>().is_none_or(|o| o.discovery_allowed);
    let mut code = use_signal(String::new);
    let mut address = use_signal(String::new);
    let mut connect_to = use_signal(String::new);
    let mut confirm_unpair = use_signal(|| false);

    let body = match (&pairing, &status.partner) {
        (Pairing::Done { name, words }, _) => rsx! {
            div { class: "paired-now", "data-pairing": "done",
                p { "You're paired with {name}." }
                p { "Check that both phones show the same four words. If they differ, unpair and try again." }
                p { class: "safety-words", "data-safety-words": "{words.join(\" \")}", "{words.join(\" · \")}" }
                button { "data-action": "words-match", onclick: move |_| link.finish_pairing(), "They match" }
            }
        },
        (Pairing::Opening, _) => rsx! { p { class: "muted", role: "status", "Making an invite…" } },
        (Pairing::Inviting { code, link: text, qr_svg }, _) => rsx! {
            div { class: "invite", "data-pairing": "inviting",
                p { "On your partner's phone, open Us and type this code:" }
                p { class: "invite-code", "data-invite-code": "{code}", "{code}" }
                div { class: "qr", "aria-label": "The invite as a QR code", dangerous_inner_html: "{qr_svg}" }
                label { r#for: "invite-link", "Or send this pairing link" }
                input { id: "invite-link", readonly: true, value: "{text}" }
                p { class: "muted", "Waiting for your partner. This invite lasts 10 minutes; five wrong codes cancel it." }
                button { class: "quiet", onclick: move |_| link.cancel_pairing(), "Cancel invite" }
            }
        },
        (Pairing::Joining, _) => rsx! {
            div { "data-pairing": "joining",
                p { role: "status", "Looking for your partner's invite on this Wi-Fi…" }
                button { class: "quiet", onclick: move |_| link.cancel_pairing(), "Cancel" }
            }
        },
        (Pairing::Idle, None) => rsx! {
            p { class: "empty", "Not paired yet." }
            p { class: "muted", "Pair once, with both phones in hand. After that your phones sync the entries you share directly over your Wi-Fi. There is no server and no account." }
            button { "data-action": "invite", onclick: move |_| link.invite(), "Invite my partner" }
            form { class: "entry-form", "data-form": "join",
                onsubmit: move |e| { e.prevent_default(); link.join(&code(), &address()); },
                label { r#for: "join-code", "Or join your partner's invite: the code or link" }
                input { id: "join-code", placeholder: "7KQM-4T2X", value: "{code}", oninput: move |e| code.set(e.value()) }
                label { r#for: "join-address", "Their address, only if your Wi-Fi blocks discovery (optional)" }
                input { id: "join-address", placeholder: "192.168.1.20:4001", value: "{address}", oninput: move |e| address.set(e.value()) }
                button { r#type: "submit", "Join" }
            }
        },
        (Pairing::Idle, Some(partner)) => {
            let paused = status.paused;
            let where_ = badge_text(&status);
            let listening =
                status.listening.iter().filter(|a| !a.contains("/127.0.0.1/")).cloned().collect::<Vec<_>>().join(", ");
            rsx! {
                p { "Paired with {partner.name}." }
                p { class: "muted", role: "status", "data-partner-status": "{where_}", "{where_}" }
                div { class: "actions",
                    if paused {
                        button { "data-action": "resume", onclick: move |_| link.change(|j| j.set_sync_paused(false)), "Resume sync" }
                    } else {
                        button { class: "quiet", "data-action": "pause", onclick: move |_| link.change(|j| j.set_sync_paused(true)), "Pause sync" }
                    }
                }
                form { class: "entry-form", "data-form": "connect",
                    onsubmit: move |e| { e.prevent_default(); link.connect(&connect_to()); },
                    label { r#for: "connect-address", "Connect by address, if your Wi-Fi blocks discovery" }
                    input { id: "connect-address", placeholder: "192.168.1.20:4001", value: "{connect_to}", oninput: move |e| connect_to.set(e.value()) }
                    button { r#type: "submit", class: "quiet", "Connect" }
                }
                if !listening.is_empty() {
                    p { class: "muted", "This phone's address: {listening}" }
                }
                if confirm_unpair() {
                    p { "Unpair from {partner.name}? Every entry stays on this phone. Their phone is not told, and keeps what it already has." }
                    div { class: "actions",
                        button { class: "danger", "data-action": "unpair-confirm", onclick: move |_| { confirm_unpair.set(false); link.change(|j| j.unpair()); }, "Yes, unpair" }
                        button { class: "quiet", onclick: move |_| confirm_unpair.set(false), "Keep pairing" }
                    }
                } else {
                    button { class: "quiet", "data-action": "unpair", onclick: move |_| confirm_unpair.set(true), "Unpair" }
                }
            }
        }
    };
    rsx! {
        section { "aria-label": "Your partner",
            h2 { "Your partner" }
            {body}
            label { class: "switch",
                input {
                    r#type: "checkbox",
                    checked: discovery_on,
                    "data-setting": "discovery",
                    onchange: move |e| { let on = e.checked(); link.change(move |j| j.set_discovery(on)); },
                }
                " Find each other automatically on this Wi-Fi"
            }
            if !discovery_allowed {
                p { class: "muted", "Off while the app runs: it was opened with --no-discovery. Connect by address still works." }
            }
        }
    }
}
