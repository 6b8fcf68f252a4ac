//! Us: the partner and sync area, past pairings, exports, and how Steady works.

use dioxus::prelude::*;

use crate::export::file::Format as ExportFormat;
use crate::ui::components::forms::NameForm;
use crate::ui::components::{focus, focus_if, focus_screen, typed};
use crate::ui::lock::{NEW_PASSCODE, NEW_PASSCODE_AGAIN};
use crate::ui::service::{Action, NetOptions, SyncService, SyncState};
use crate::ui::{JournalSignal, Notice, Tab, act};

#[component]
pub fn Us(journal: JournalSignal, notice: Notice, tab: Signal<Tab>) -> Element {
    let name = journal.read().as_ref().ok().and_then(|j| j.me.as_ref().map(|m| m.name.clone())).unwrap_or_default();
    let default_dir = directories::UserDirs::new()
        .and_then(|u| u.document_dir().map(|d| d.to_owned()).or_else(|| Some(u.home_dir().to_owned())))
        .unwrap_or_default();
    // Where the last export went: the field starts from it after an export remounts it.
    let mut export_path = use_signal(move || default_dir.join("steady-journal.json").display().to_string());
    let mut exported = use_signal(|| None::<String>);
    let mut encrypted = use_signal(|| true);
    // Which export button was pressed: its click comes just before the form's submit.
    let what = use_signal(|| Export::Journal(ExportFormat::Json));
    // An export remounts its form, so the passphrase does not stay in the field.
    let mut exports = use_signal(|| 0u32);
    let export = move |e: FormEvent| {
        e.prevent_default();
        let typed_path = typed(&e, "path");
        let format = match *what.peek() {
            Export::Journal(format) => format,
            // A past pairing's document goes into the folder the path names.
            Export::Past(id) => {
                let dir = std::path::Path::new(typed_path.trim()).parent().map(|d| d.to_owned()).unwrap_or_default();
                let mut written = None;
                if act(journal, notice, |j| {
                    written = Some(j.export_past(id, &dir)?);
                    Ok(())
                }) && let Some(path) = written
                {
                    exported.set(Some(format!("Saved to {}", path.display())));
                }
                return;
            }
        };
        let path = export_file(&typed_path, format);
        let secret = zeroize::Zeroizing::new(typed(&e, "passphrase"));
        let encrypted = *encrypted.peek();
        if encrypted && secret.chars().count() < 8 {
            return notice
                .clone()
                .set(Some("Choose a passphrase of at least 8 characters to open the file with.".into()));
        }
        let mut written = None;
        if act(journal, notice, |j| {
            written = Some(j.export(format, &path, encrypted.then_some(secret.as_str()))?);
            Ok(())
        }) && let Some(path) = written
        {
            export_path.set(typed_path);
            exports += 1;
            exported.set(Some(if encrypted {
                format!("Saved, encrypted, to {}. It opens with the passphrase you chose.", path.display())
            } else {
                format!("Saved to {}, not encrypted: anyone who finds it can read it.", path.display())
            }));
        }
    };
    let first_path = export_path.peek().clone();
    rsx! {
        Partner { journal }
        HomeRelays { journal, notice }
        PastPairings { journal, notice, what }
        section { "aria-label": "You",
            h2 { "You" }
            NameForm { journal, notice, form: "my-name", field: "my-name", label: "Your name, as your partner sees it", start: name, save: "Save name" }
        }
        section { "aria-label": "Keep a copy",
            h2 { "Keep a copy" }
            for n in [exports()] {
                form { key: "{n}", id: EXPORT_FORM, class: "entry-form", "data-form": "export", onsubmit: export,
                    label { r#for: "export-path", "Where to save it" }
                    input { id: "export-path", name: "path", initial_value: "{first_path}" }
                    label { class: "switch",
                        input { r#type: "checkbox", checked: encrypted(), "data-export-encrypted": "{encrypted}",
                            onchange: move |e| encrypted.set(e.checked()) }
                        "Encrypt the file (recommended)"
                    }
                    if encrypted() {
                        label { r#for: "export-passphrase", "A passphrase to open the file with" }
                        input { id: "export-passphrase", name: "passphrase", r#type: "password", autocomplete: "new-password" }
                        p { class: "hint", "Saves an encrypted file (age, ending in .age) that opens only with this passphrase." }
                    } else {
                        p { class: "hint", role: "alert", "Saves a plain file: anyone who finds it can read every entry in it, private ones too." }
                    }
                    div { class: "actions",
                        button { r#type: "submit", "data-export": "json", onclick: move |_| what.clone().set(Export::Journal(ExportFormat::Json)), "Save as JSON" }
                        button { r#type: "submit", "data-export": "markdown", onclick: move |_| what.clone().set(Export::Journal(ExportFormat::Markdown)), "Save as Markdown" }
                    }
                }
            }
            if let Some(done) = exported() {
                p { class: "muted", role: "status", "{done}" }
            }
        }
        LockSettings { journal, notice }
        MoveToNewPhone { journal, notice }
        section { "aria-label": "How Steady works",
            h2 { "How Steady works" }
            p { "Everything you write is private: it stays on this phone, and leaves it only with you, if you move Steady to a new phone." }
            p { "\u{201c}Share with partner\u{201d} gives your partner a copy of that one entry. It waits on this phone until it leaves, at the next sync or sealed in a letter while you are apart, and for ten seconds at least: until then, \u{201c}Undo\u{201d} or \u{201c}Keep private\u{201d} takes it back and nothing of it ever leaves this phone." }
            p { "\u{201c}Unshare\u{201d} takes a sent entry back out of what you share, but the copy your partner's phone already received stays with them. Each card says which it is." }
            p { "Each pairing has its own shared entries. If you unpair, nothing of this pairing is ever sent to anyone you pair with later." }
            p { "Nothing can be requested, tracked or read without being offered. There are no read receipts, no locations and no streaks." }
            p { "Setting an entry aside keeps it, out of your daily views. It is yours alone: your partner's phone never learns of it." }
            button { class: "link", onclick: move |_| tab.set(Tab::SetAside), "See set-aside entries" }
        }
    }
}

/// The form that keeps a copy: the journal's exports, and (through the `form` attribute
/// of their buttons) a past pairing's.
const EXPORT_FORM: &str = "export";

/// What the export form writes: the whole journal, or a past pairing's document.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Export {
    Journal(ExportFormat),
    Past(i64),
}

/// The file an export of `format` goes to, from the path typed: Markdown goes beside a
/// path that names a JSON file, with `.md` in place of `.json`.
fn export_file(typed: &str, format: ExportFormat) -> std::path::PathBuf {
    let typed = typed.trim();
    match (format, typed.strip_suffix(".json")) {
        (ExportFormat::Markdown, Some(stem)) => format!("{stem}.md").into(),
        _ => typed.into(),
    }
}

/// Pairing, and sync with the partner once paired. Everything here is symmetric: either
/// phone can invite, either can pause or unpair, and the other phone is never told.
#[component]
fn Partner(journal: JournalSignal) -> Element {
    let Some(service) = try_use_context::<SyncService>() else { return rsx! {} };
    let view = service.view.read().clone();
    let discovery_on = journal.read().as_ref().map(|j| j.discovery_on()).unwrap_or(true);
    let discovery_allowed = try_use_context::<NetOptions>().is_none_or(|o| o.discovery_allowed);
    let mut confirm_unpair = use_signal(|| false);
    let mut back_to_unpair = use_signal(|| false);
    let mut continuing = use_signal(|| false);
    let send = move |action: Action| service.send(action);

    let body = match &view.state {
        SyncState::Locked => rsx! {},
        SyncState::WordsToCheck { name, words } => rsx! {
            CheckWords { name: name.clone(), words: words.clone() }
        },
        SyncState::MakingInvite => rsx! { p { class: "muted", role: "status", "Making an invite…" } },
        SyncState::Inviting { code, link, qr_svg } => rsx! {
            div { class: "invite", "data-pairing": "inviting",
                p { "On your partner's phone, open Us and type this code:" }
                p { class: "invite-code", "data-invite-code": "{code}", "{code}" }
                div { class: "qr", role: "img", "aria-label": "The invite as a QR code", dangerous_inner_html: "{qr_svg}" }
                label { r#for: "invite-link", "Or send this pairing link" }
                input { id: "invite-link", readonly: true, value: "{link}" }
                p { class: "caution", "data-caution": "words",
                    "Sending the link in a message is fine, but then compare the four words both phones show by voice or in person, never by message. Nothing is shared until you both say they match."
                }
                p { class: "muted", "Waiting for your partner. This invite lasts 10 minutes; five wrong codes cancel it." }
                button { class: "quiet", onclick: move |_| send(Action::CancelPairing), "Cancel invite" }
            }
        },
        SyncState::Joining => rsx! {
            div { "data-pairing": "joining",
                p { role: "status", "Looking for your partner's invite on this Wi-Fi…" }
                button { class: "quiet", onclick: move |_| send(Action::CancelPairing), "Cancel" }
            }
        },
        SyncState::NotPaired => rsx! {
            p { class: "empty", "Not paired yet." }
            p { class: "muted", "Pair once, with both phones in hand. After that your phones sync the entries you share directly over your Wi-Fi. There is no server and no account." }
            button { "data-action": "invite", onclick: move |_| send(Action::Invite), "Invite my partner" }
            form { class: "entry-form", "data-form": "join",
                onsubmit: move |e| {
                    e.prevent_default();
                    send(Action::Join { code: typed(&e, "code"), address: typed(&e, "address"), continues: continuing() });
                },
                label { r#for: "join-code", "Or join your partner's invite: the code or link" }
                input { id: "join-code", name: "code", placeholder: "7KQM-4T2X" }
                label { r#for: "join-address", "Their address, only if your Wi-Fi blocks discovery (optional)" }
                input { id: "join-address", name: "address", placeholder: "192.168.1.20:4001" }
                label { class: "switch",
                    input { r#type: "checkbox", checked: continuing(), "data-join-continue": "{continuing}",
                        onchange: move |e| continuing.set(e.checked()) }
                    " I restored Steady from a backup: continue our shared history"
                }
                if continuing() {
                    p { class: "hint",
                        "Your partner unpairs your old phone, then invites. Once you both confirm the words, their phone sends your shared history again. Nothing of it is lost or doubled."
                    }
                }
                button { r#type: "submit", "Join" }
            }
        },
        state => {
            let name = state.partner().unwrap_or("your partner").to_owned();
            let resumable = matches!(state, SyncState::Paused { .. } | SyncState::Stopped { .. });
            let stopped = match state {
                SyncState::Stopped { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            let too_big = match state {
                SyncState::TooBig { reason, .. } => Some(reason.clone()),
                _ => None,
            };
            let where_ = view.badge();
            let listening =
                view.listening.iter().filter(|a| !a.contains("/127.0.0.1/")).cloned().collect::<Vec<_>>().join(", ");
            rsx! {
                p { "Paired with {name}." }
                p { class: "muted", role: "status", "data-partner-status": "{where_}", "{where_}" }
                if let Some(reason) = stopped {
                    p { class: "error", role: "alert", "data-sync-stopped": "true", "{reason}" }
                    p { class: "muted", "Resume only if you trust that phone again, or unpair." }
                }
                if let Some(reason) = too_big {
                    p { class: "error", role: "alert", "data-too-big": "true", "{reason}" }
                    p { class: "muted", "Unpairing keeps what {name} shared here, apart and read-only, as it reads today." }
                }
                div { class: "actions",
                    if resumable {
                        button { "data-action": "resume", onclick: move |_| send(Action::SetPaused(false)), "Resume sync" }
                    } else {
                        button { class: "quiet", "data-action": "pause", onclick: move |_| send(Action::SetPaused(true)), "Pause sync" }
                    }
                }
                form { class: "entry-form", "data-form": "connect",
                    onsubmit: move |e| { e.prevent_default(); send(Action::Connect { address: typed(&e, "address") }); },
                    label { r#for: "connect-address", "Connect by address, if your Wi-Fi blocks discovery" }
                    input { id: "connect-address", name: "address", placeholder: "192.168.1.20:4001" }
                    button { r#type: "submit", class: "quiet", "Connect" }
                }
                if !listening.is_empty() {
                    p { class: "muted", "This phone's address: {listening}" }
                }
                if confirm_unpair() {
                    div { class: "confirm", role: "group", "aria-label": "Unpair from {name}?", "data-confirm": "unpair",
                        "data-escape": "",
                        p { "Unpair from {name}? What you shared becomes private again on this phone, and what {name} shared stays here, apart and read-only. Their phone is not told, and keeps what it already has. A new pairing starts with nothing shared, unless {name} restored Steady from a backup and continues this history." }
                        div { class: "actions",
                            button { class: "danger", "data-action": "unpair-confirm", "aria-label": "Yes, unpair from {name}",
                                onclick: move |_| { confirm_unpair.set(false); send(Action::Unpair); focus_screen(); }, "Yes, unpair" }
                            button { class: "quiet", "data-action": "keep-pairing", "data-on-escape": "", onmounted: focus,
                                onclick: move |_| { confirm_unpair.set(false); back_to_unpair.set(true) }, "Keep pairing" }
                        }
                    }
                } else {
                    button { class: "quiet", "data-action": "unpair", "aria-label": "Unpair from {name}",
                        onmounted: move |e| focus_if(e, back_to_unpair),
                        onclick: move |_| confirm_unpair.set(true), "Unpair" }
                }
            }
        }
    };
    rsx! {
        section { "aria-label": "Your partner", "data-sync-state": view.state.slug(),
            h2 { "Your partner" }
            {body}
            label { class: "switch",
                input {
                    r#type: "checkbox",
                    checked: discovery_on,
                    "data-setting": "discovery",
                    onchange: move |e| send(Action::SetDiscovery(e.checked())),
                }
                " Find each other automatically on this Wi-Fi"
            }
            if !discovery_allowed {
                p { class: "muted", "Off while the app runs: it was opened with --no-discovery. Connect by address still works." }
            }
        }
    }
}

/// Us › Home relay: the couple's relays, adding one with the code it shows, removing
/// any; and when the phone's background service carries letters.
#[component]
fn HomeRelays(journal: JournalSignal, notice: Notice) -> Element {
    let mut code = use_signal(String::new);
    let mut adding = use_signal(|| false);
    let (paired, relays, mode, name) = match journal.read().as_ref() {
        Ok(j) => (
            j.relay_secret().is_ok(),
            j.relays(),
            j.background_mode(),
            j.net_status().ok().and_then(|s| s.partner).map(|p| p.name).unwrap_or_default(),
        ),
        Err(_) => return rsx! {},
    };
    if !paired {
        return rsx! {};
    }
    let add = move |e: FormEvent| {
        e.prevent_default();
        let typed_code = code.peek().trim().to_owned();
        let secret = journal.read().as_ref().map_err(|e| e.clone()).and_then(|j| j.relay_secret());
        let secret = match secret {
            Ok(secret) => secret,
            Err(e) => {
                let mut notice = notice;
                return notice.set(Some(e));
            }
        };
        adding.set(true);
        let (tx, rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || {
            let joined =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string()).and_then(
                    |rt| {
                        rt.block_on(crate::net::relay::join(&secret.0, secret.1, &typed_code, None))
                            .map_err(|e| e.to_string())
                    },
                );
            let _ = tx.send(joined);
        });
        let mut notice = notice;
        spawn(async move {
            let joined = rx.await.unwrap_or_else(|_| Err("the relay could not be asked".to_owned()));
            adding.set(false);
            match joined {
                Ok(entry) => {
                    if act(journal, notice, |j| j.relay_added(&entry)) {
                        code.set(String::new());
                        notice.set(Some(
                            "Home relay added. Your partner's phone learns of it at your next exchange.".to_owned(),
                        ));
                    }
                }
                Err(e) => notice.set(Some(e)),
            }
        });
    };
    rsx! {
        section { "aria-label": "Home relay",
            h2 { "Home relay" }
            p { "A computer that stays on at home can hold sealed letters between your phones, for when you are not on the Wi-Fi together. It can read none of them, and keeps each for 30 days at most." }
            for relay in relays {
                div { class: "relay", key: "{relay.id}", "data-relay": "{relay.id}",
                    p { "Relay {short_id(&relay.id)} · added by {added_by(&relay.added_by, &name)}" }
                    button { class: "quiet", "data-action": "remove-relay", "aria-label": "Remove home relay {short_id(&relay.id)}",
                        onclick: {
                            let id = relay.id.clone();
                            move |_| { act(journal, notice, |j| j.remove_relay(&id)); }
                        },
                        "Remove"
                    }
                }
            }
            form { onsubmit: add,
                label { r#for: "relay-code", "The code your relay shows (steady relay serve --invite)" }
                input { id: "relay-code", name: "code", value: "{code}", autocomplete: "off",
                    oninput: move |e| code.set(e.value()) }
                button { class: "primary", r#type: "submit", "data-action": "add-relay", disabled: adding(), "Add home relay" }
                if adding() {
                    p { role: "status", "Asking the relay…" }
                }
            }
            label { r#for: "background-mode", "While Steady is closed, carry letters" }
            select { id: "background-mode", "data-setting": "background",
                onchange: move |e| { act(journal, notice, |j| j.set_background_mode(&e.value())); },
                option { value: "always", selected: mode == "always", "On Wi-Fi" }
                option { value: "charging", selected: mode == "charging", "On Wi-Fi, while charging" }
                option { value: "off", selected: mode == "off", "Never" }
            }
        }
    }
}

fn short_id(id: &str) -> &str {
    &id[id.len().saturating_sub(6)..]
}

fn added_by(who: &str, partner: &str) -> String {
    if who == "me" { "you".to_owned() } else { partner.to_owned() }
}

/// The words a new pairing shows on both phones, and the person's answer: they match
/// (this phone starts to sync once the other phone says so too), or they don't (the
/// pairing is forgotten here, and the other phone is not told).
#[component]
fn CheckWords(name: String, words: Vec<String>) -> Element {
    let Some(service) = try_use_context::<SyncService>() else { return rsx! {} };
    rsx! {
        div { class: "paired-now", "data-pairing": "unconfirmed",
            p { "You're paired with {name}, but nothing is shared yet." }
            p { "Check that {name}'s phone shows the same four words. Say them out loud together, or look at both screens side by side; never compare them by message." }
            p { class: "safety-words", "data-safety-words": "{words.join(\" \")}", "{words.join(\" · \")}" }
            div { class: "actions",
                button { class: "primary", "data-action": "words-match", onclick: move |_| service.send(Action::ConfirmWords), "They match" }
                button { class: "quiet", "data-action": "words-differ", onclick: move |_| service.send(Action::RejectWords), "They don't match" }
            }
        }
    }
}

/// The shared documents of pairings that have ended: what the partner wrote, read-only,
/// to keep a copy of or delete for good.
#[component]
fn PastPairings(journal: JournalSignal, notice: Notice, what: Signal<Export>) -> Element {
    let mut confirm_delete = use_signal(|| None::<i64>);
    let mut back_to_delete = use_signal(|| false);
    let pasts = match journal.read().as_ref().map(|j| j.past_pairings()) {
        Ok(Ok(pasts)) => pasts,
        Ok(Err(e)) => return rsx! { p { class: "error", role: "alert", "{e}" } },
        Err(_) => return rsx! {},
    };
    if pasts.is_empty() {
        return rsx! {};
    }
    let items = pasts.into_iter().map(|past| {
        let id = past.id;
        let partner = past.partner.clone();
        let ended = past.ended_at.with_timezone(&chrono::Local).format("%-d %B %Y").to_string();
        let entries = journal.read().as_ref().ok().map(|j| j.past_entries(id)).unwrap_or_else(|| Ok(Vec::new()));
        rsx! {
            article { key: "{id}", class: "past-pairing", "data-past": "{id}",
                h3 { "From your time with {partner}" }
                p { class: "muted", "Ended {ended}. What {partner} shared, read-only. What you shared is back among your own entries." }
                match entries {
                    Ok(entries) if entries.is_empty() => rsx! { p { class: "empty", "{partner} shared nothing." } },
                    Ok(entries) => rsx! {
                        ul { class: "past-entries",
                            for e in entries {
                                li { key: "{e.id}", "data-past-entry": "{e.id}",
                                    span { class: "kind", {e.body.practice().map(|p| p.title()).unwrap_or("Entry")} }
                                    " "
                                    span { "{e.body.main_text()}" }
                                }
                            }
                        }
                    },
                    Err(e) => rsx! { p { class: "error", "{e}" } },
                }
                div { class: "actions",
                    // A submit button of the export form below: the past pairing's document
                    // goes into the folder its path names.
                    button { r#type: "submit", form: EXPORT_FORM, class: "quiet", "data-action": "export-past",
                        "aria-label": "Export what {partner} shared",
                        onclick: move |_| what.clone().set(Export::Past(id)),
                        "Export"
                    }
                    if confirm_delete() == Some(id) {
                        div { class: "confirm", role: "group", "aria-label": "Delete your time with {partner} for good?", "data-confirm": "delete-past",
                            "data-escape": "",
                            p { "Delete everything from your time with {partner} on this phone? It can't be undone. Their phone keeps its own copy." }
                            button { class: "danger", "data-action": "delete-past-confirm", "aria-label": "Yes, delete for good: everything from {partner}",
                                onclick: move |_| {
                                    confirm_delete.set(None);
                                    act(journal, notice, |j| j.delete_past(id));
                                    focus_screen();
                                },
                                "Yes, delete for good"
                            }
                            button { class: "quiet", "aria-label": "Keep it: what {partner} shared", "data-on-escape": "", onmounted: focus,
                                onclick: move |_| { confirm_delete.set(None); back_to_delete.set(true) }, "Keep it" }
                        }
                    } else {
                        button { class: "quiet", "data-action": "delete-past", "aria-label": "Delete for good what {partner} shared",
                            onmounted: move |e| focus_if(e, back_to_delete),
                            onclick: move |_| confirm_delete.set(Some(id)), "Delete for good" }
                    }
                }
            }
        }
    });
    rsx! {
        section { "aria-label": "Past pairings",
            h2 { "Past pairings" }
            {items}
        }
    }
}

/// The lock: lock now, how soon it locks in the background, and the passcode itself.
#[component]
fn LockSettings(journal: JournalSignal, notice: Notice) -> Element {
    let gate = try_use_context::<Signal<crate::ui::lock::Gate>>();
    // A new passcode comes with a new data key: the sync node starts again with it.
    let service = try_use_context::<SyncService>();
    let key_changed = move || {
        if let Some(s) = service {
            s.send(Action::KeyChanged);
        }
    };
    let (has_passcode, grace) = match journal.read().as_ref() {
        Ok(j) => (j.has_passcode(), j.lock_grace().as_secs()),
        Err(_) => (false, crate::ui::lock::DEFAULT_GRACE.as_secs()),
    };
    let mut changing = use_signal(|| false);
    let mut removing = use_signal(|| false);
    let mut done = use_signal(|| None::<String>);
    // Which button gets focus back when its form closes.
    let mut back_to_change = use_signal(|| false);
    let mut back_to_remove = use_signal(|| false);
    // Closing a form drops it, and what was typed in it.
    let mut clear = move || {
        if changing() {
            back_to_change.set(true);
        }
        if removing() {
            back_to_remove.set(true);
        }
        changing.set(false);
        removing.set(false);
    };
    let mut save = move |e: FormEvent| {
        let secret = |name: &str| zeroize::Zeroizing::new(typed(&e, name));
        let (old, first, again) = (secret("current"), secret(NEW_PASSCODE), secret(NEW_PASSCODE_AGAIN));
        if let Err(e) = crate::vault::check_new_passcode(&first) {
            return notice.clone().set(Some(e.to_string()));
        }
        if first != again {
            return notice.clone().set(Some("The two new passcodes are not the same.".into()));
        }
        if act(journal, notice, |j| j.set_passcode(has_passcode.then_some(old.as_str()), &first)) {
            key_changed();
            clear();
            done.set(Some("The passcode is set. Steady asks for it each time it opens.".into()));
        }
    };
    rsx! {
        section { "aria-label": "Lock",
            h2 { "Lock" }
            if has_passcode {
                p { "Steady asks for its passcode when it opens and after it has been in the background." }
                div { class: "actions",
                    button { class: "primary", "data-action": "lock-now",
                        onclick: move |_| if let Some(gate) = gate { crate::ui::lock::lock_now(journal, gate) },
                        "Lock now" }
                }
                label { r#for: "lock-grace", "Lock after the app is in the background" }
                select { id: "lock-grace",
                    onchange: move |e| {
                        if let Ok(secs) = e.value().parse::<u64>() {
                            act(journal, notice, |j| j.set_lock_grace(std::time::Duration::from_secs(secs)));
                        }
                    },
                    for (secs, words) in crate::ui::lock::GRACE_CHOICES {
                        option { value: "{secs}", selected: secs == grace, "{words}" }
                    }
                }
            } else {
                p { "Steady opens without a passcode on this phone: anyone who can open the app can read it." }
            }
            if changing() {
                form { class: "entry-form", "data-form": "passcode",
                    "data-escape": "",
                    onsubmit: move |e| { e.prevent_default(); save(e); },
                    if has_passcode {
                        label { r#for: "current-passcode", "Your passcode now" }
                        input { id: "current-passcode", name: "current", r#type: "password", autocomplete: "current-password", onmounted: focus }
                    }
                    crate::ui::lock::NewPasscode { id: "next-passcode" }
                    div { class: "actions",
                        button { r#type: "submit", class: "primary", "Save passcode" }
                        button { r#type: "button", class: "quiet", "data-on-escape": "", onclick: move |_| clear(), "Cancel" }
                    }
                }
            } else if removing() {
                p { class: "notice", role: "alert", "{crate::vault::WITHOUT_PASSCODE}" }
                form { class: "entry-form", "data-form": "remove-passcode",
                    "data-escape": "",
                    onsubmit: move |e| {
                        e.prevent_default();
                        let old = zeroize::Zeroizing::new(typed(&e, "current"));
                        if act(journal, notice, |j| j.remove_passcode(&old)) {
                            key_changed();
                            clear();
                            done.set(Some("The passcode is off. Steady opens without it.".into()));
                        }
                    },
                    label { r#for: "remove-passcode", "Your passcode, to turn it off" }
                    input { id: "remove-passcode", name: "current", r#type: "password", autocomplete: "current-password", onmounted: focus }
                    div { class: "actions",
                        button { r#type: "submit", "Turn the passcode off" }
                        button { r#type: "button", class: "quiet", "data-on-escape": "", onclick: move |_| clear(), "Keep it" }
                    }
                }
            } else {
                div { class: "actions",
                    button { class: "quiet", "data-action": "change-passcode", onmounted: move |e| focus_if(e, back_to_change),
                        onclick: move |_| { done.set(None); changing.set(true) },
                        if has_passcode { "Change passcode" } else { "Set a passcode" } }
                    if has_passcode {
                        button { class: "quiet", onmounted: move |e| focus_if(e, back_to_remove),
                            onclick: move |_| { done.set(None); removing.set(true) }, "Turn the passcode off" }
                    }
                }
            }
            if let Some(d) = done() {
                p { class: "muted", role: "status", "{d}" }
            }
        }
    }
}

/// Us › Move to a new phone: what moves, what is erased, and the start of it.
#[component]
fn MoveToNewPhone(journal: JournalSignal, notice: Notice) -> Element {
    let gate = use_context::<Signal<crate::ui::lock::Gate>>();
    let task = use_context::<crate::ui::moving::MoveSignal>();
    rsx! {
        section { "aria-label": "Move to a new phone",
            h2 { "Move to a new phone" }
            p { "Everything moves to your new phone, over your Wi-Fi: your private entries, what you shared, your pairing, past pairings, settings and home relays. Your partner's phone goes on with the new one by itself, and shows one line saying you moved." }
            p { "Once the new phone holds all of it, checked, this phone erases its copy. If the move stops before then, everything stays here." }
            button { "data-action": "move-out",
                onclick: move |_| {
                    let mut notice = notice;
                    if let Err(e) = crate::ui::moving::start_out(journal, gate, task) {
                        notice.set(Some(e));
                    }
                },
                "Move to a new phone"
            }
        }
    }
}
