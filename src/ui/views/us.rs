//! Us: the partner and sync area, exports, and how Steady works.

use dioxus::prelude::*;

use crate::cli::ExportFormat;
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
        section { "aria-label": "Your partner",
            h2 { "Your partner" }
            p { class: "empty", "Not paired yet." }
            p { class: "muted", "When you pair, your phones sync directly over your Wi-Fi. There is no server and no account." }
        }
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
