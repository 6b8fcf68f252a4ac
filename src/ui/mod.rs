//! The app's window. For now it lists the journal, read only, grouped by practice.

use std::collections::HashMap;
use std::path::PathBuf;

use dioxus::prelude::*;

use crate::model::{Body, Entry, PersonId, Practice, SafetySide};
use crate::store::Store;

/// The data directory the window reads, handed in at launch.
#[derive(Clone, Debug)]
pub struct DataDir(pub PathBuf);

/// Opens the app window on the journal in `data_dir`.
#[cfg(feature = "desktop")]
pub fn launch(data_dir: PathBuf) {
    use dioxus::desktop::{Config, LogicalSize, WindowBuilder};
    let window = WindowBuilder::new().with_title("Steady").with_inner_size(LogicalSize::new(390.0, 844.0));
    dioxus::LaunchBuilder::desktop()
        .with_cfg(Config::new().with_window(window).with_menu(None))
        .with_context(DataDir(data_dir))
        .launch(App);
}

/// What the window shows: the journal as read at launch, or why it couldn't be read.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub me: Option<String>,
    pub names: HashMap<PersonId, String>,
    pub entries: Vec<Entry>,
}

pub fn read_snapshot(dir: &std::path::Path) -> Result<Snapshot, String> {
    let (mut store, entries) = Store::open_dir_with_entries(dir).map_err(|e| e.to_string())?;
    let names = store.people().map_err(|e| e.to_string())?.into_iter().collect();
    Ok(Snapshot { me: store.me().map(|p| p.name.clone()), names, entries })
}

#[component]
pub fn App() -> Element {
    let dir = use_context::<DataDir>();
    let snapshot = use_hook(|| read_snapshot(&dir.0));
    rsx! {
        document::Stylesheet { href: asset!("/assets/steady.css") }
        Journal { snapshot }
    }
}

#[component]
pub fn Journal(snapshot: Result<Snapshot, String>) -> Element {
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(message) => {
            return rsx! {
                main { class: "screen",
                    h1 { "Steady" }
                    p { role: "alert", class: "error", "{message}" }
                }
            };
        }
    };
    let greeting = match &snapshot.me {
        Some(name) => format!("Hello, {name}"),
        None => "Set up with: steady init --name YOUR-NAME".to_string(),
    };
    let active: Vec<&Entry> = snapshot.entries.iter().filter(|e| !e.archived).collect();
    rsx! {
        main { class: "screen",
            header {
                h1 { "Steady" }
                p { class: "muted", "{greeting}" }
            }
            if active.is_empty() {
                p { class: "empty", "No entries yet. Small, steady actions start here." }
            }
            for practice in Practice::ALL {
                PracticeSection {
                    practice,
                    entries: active.iter().filter(|e| e.body.practice() == Some(practice)).map(|e| (*e).clone()).collect::<Vec<_>>(),
                    names: snapshot.names.clone(),
                }
            }
        }
    }
}

#[component]
fn PracticeSection(practice: Practice, entries: Vec<Entry>, names: HashMap<PersonId, String>) -> Element {
    if entries.is_empty() {
        return rsx! {};
    }
    rsx! {
        section { "aria-label": practice.title(),
            h2 { "{practice.title()}" }
            for e in entries {
                EntryCard { key: "{e.id}", author: names.get(&e.author).cloned().unwrap_or_else(|| "Partner".into()), entry: e }
            }
        }
    }
}

#[component]
fn EntryCard(entry: Entry, author: String) -> Element {
    let place = if entry.shared { "Shared" } else { "Private" };
    let day = entry.created_at.with_timezone(&chrono::Local).format("%a %e %b").to_string();
    rsx! {
        article { class: "card",
            div { class: "card-meta",
                span { class: if entry.shared { "badge shared" } else { "badge private" }, "{place}" }
                span { class: "muted", "{author} · {day}" }
            }
            {body_view(&entry.body)}
        }
    }
}

fn body_view(body: &Body) -> Element {
    match body {
        Body::SafetyNeed { side, text } => {
            let label = match side {
                SafetySide::Helps => "Helps me feel secure",
                SafetySide::Harder => "Makes trust harder",
            };
            rsx! { p { class: "label", "{label}" } p { "{text}" } }
        }
        Body::Reflection { feeling, needing, understanding } => rsx! {
            p { class: "label", "I was feeling" }
            p { "{feeling}" }
            if let Some(n) = needing {
                p { class: "label", "I was needing" }
                p { "{n}" }
            }
            if let Some(u) = understanding {
                p { class: "label", "I now understand" }
                p { "{u}" }
            }
        },
        Body::Agreement { text, check_ins, .. } => {
            let kept = check_ins.iter().filter(|c| c.outcome == crate::model::Outcome::Kept).count();
            rsx! { p { "{text}" } p { class: "muted", "Kept {kept} of {check_ins.len()} check-ins" } }
        }
        Body::DailyCheckIn { date, text } => rsx! { p { class: "label", "{date}" } p { "{text}" } },
        Body::Transparency { text, window } => {
            let when = window.map(|w| {
                let f =
                    |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&chrono::Local).format("%a %H:%M").to_string();
                format!("{} to {}", f(w.from), f(w.to))
            });
            rsx! {
                p { "{text}" }
                if let Some(when) = when { p { class: "muted", "{when}" } }
            }
        }
        Body::Unknown { .. } => rsx! { p { class: "muted", "An entry from a newer version of Steady." } },
    }
}
