//! Forms for writing entries. A form keeps what was typed until the save succeeds; a
//! failed save shows why and loses nothing.
//!
//! No field is bound back to a signal: what a person types stays in the field, and is
//! read from the form when it is saved (`typed`). A field written again from a signal on
//! every render loses the keys pressed between an input event and its render.

use chrono::{Local, NaiveDateTime, TimeZone, Utc};
use dioxus::prelude::*;

use crate::model::{Draft, SafetySide, TimeWindow, nudge};
use crate::ui::components::typed;
use crate::ui::{JournalSignal, Notice, act};

#[component]
pub fn SafetyForm(journal: JournalSignal, notice: Notice, side: SafetySide) -> Element {
    let mut saved = use_signal(|| 0u32);
    let (id, label) = match side {
        SafetySide::Helps => ("safety-helps", "What helps me feel secure with you"),
        SafetySide::Harder => ("safety-harder", "What makes trust harder for me"),
    };
    rsx! {
        // Keyed by how many were saved: a save remounts the form, empty.
        for n in [saved()] {
            form { key: "{n}", class: "entry-form", "data-form": id,
                onsubmit: move |e| {
                    e.prevent_default();
                    let text = typed(&e, "text");
                    if act(journal, notice, |j| j.add(Draft::SafetyNeed { side, text }).map(|_| ())) {
                        saved += 1;
                    }
                },
                label { r#for: "{id}-text", "{label}" }
                textarea { id: "{id}-text", name: "text", rows: "2" }
                button { r#type: "submit", class: "primary", "Save privately" }
            }
        }
    }
}

/// The page tells the reflection form's nudge what is typed, key by key, over an
/// asynchronous channel: nothing waits for the app. (A framework `oninput` would make the
/// page wait for the app on every key of every field from then on: the framework keeps a
/// page-wide listener for each kind of event it ever listened to.)
const WATCH_REFLECTION: &str = r#"
    const form = document.querySelector('[data-form="reflection"]');
    if (form) {
        form.addEventListener('input', () => dioxus.send([...new FormData(form).values()].join(' ')));
    }
"#;

#[component]
pub fn ReflectionForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut saved = use_signal(|| 0u32);
    // The nudge follows the words as they are typed; the words themselves stay in the
    // fields and are read from the form when it is saved.
    let mut gentle = use_signal(|| None::<String>);
    let mut consider = move |words: &str| {
        let now = nudge::suggestion(words);
        if *gentle.peek() != now {
            gentle.set(now);
        }
    };
    let mut watching = use_signal(|| None::<dioxus::core::Task>);
    let all = |e: &FormEvent| ["feeling", "needing", "understanding"].map(|f| typed(e, f)).join(" ");
    rsx! {
        for n in [saved()] {
            form { key: "{n}", class: "entry-form", "data-form": "reflection",
                onmounted: move |_| {
                    if let Some(before) = watching.take() {
                        before.cancel();
                    }
                    watching.set(Some(spawn(async move {
                        let mut typing = document::eval(WATCH_REFLECTION);
                        while let Ok(words) = typing.recv::<String>().await {
                            consider(&words);
                        }
                    })));
                },
                // Leaving a field says it too, where the page can't send each key.
                onchange: move |e| consider(&all(&e)),
                onsubmit: move |e| {
                    e.prevent_default();
                    let draft = Draft::Reflection {
                        feeling: typed(&e, "feeling"),
                        needing: Some(typed(&e, "needing")),
                        understanding: Some(typed(&e, "understanding")),
                    };
                    if act(journal, notice, |j| j.add(draft).map(|_| ())) {
                        gentle.set(None);
                        saved += 1;
                    }
                },
                label { r#for: "reflection-feeling", "What I was feeling" }
                textarea { id: "reflection-feeling", name: "feeling", rows: "2" }
                label { r#for: "reflection-needing", "What I was needing" }
                textarea { id: "reflection-needing", name: "needing", rows: "2" }
                label { r#for: "reflection-understanding", "What I now understand about you (optional)" }
                textarea { id: "reflection-understanding", name: "understanding", rows: "2" }
                if let Some(words) = gentle() {
                    p { class: "nudge", role: "note", "data-nudge": "blame", "{words}" }
                }
                button { r#type: "submit", class: "primary", "Save privately" }
            }
        }
    }
}

#[component]
pub fn AgreementForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut saved = use_signal(|| 0u32);
    rsx! {
        for n in [saved()] {
            form { key: "{n}", class: "entry-form", "data-form": "agreement",
                onsubmit: move |e| {
                    e.prevent_default();
                    let text = typed(&e, "text");
                    if act(journal, notice, |j| j.add(Draft::Agreement { text }).map(|_| ())) {
                        saved += 1;
                    }
                },
                label { r#for: "agreement-text", "A small agreement" }
                input { id: "agreement-text", name: "text", placeholder: "Text when I'm running late" }
                button { r#type: "submit", class: "primary", "Save privately" }
            }
        }
    }
}

#[component]
pub fn TransparencyForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut saved = use_signal(|| 0u32);
    rsx! {
        for n in [saved()] {
            form { key: "{n}", class: "entry-form", "data-form": "transparency",
                onsubmit: move |e| {
                    e.prevent_default();
                    let added = act(journal, notice, |j| {
                        let window = window(&typed(&e, "from"), &typed(&e, "to"))?;
                        j.add(Draft::Transparency { text: typed(&e, "text"), window }).map(|_| ())
                    });
                    if added {
                        saved += 1;
                    }
                },
                label { r#for: "transparency-text", "Something I'd like you to know" }
                textarea { id: "transparency-text", name: "text", rows: "2" }
                fieldset {
                    legend { "A plan's time (optional)" }
                    label { r#for: "transparency-from", "From" }
                    input { id: "transparency-from", name: "from", r#type: "datetime-local" }
                    label { r#for: "transparency-to", "To" }
                    input { id: "transparency-to", name: "to", r#type: "datetime-local" }
                }
                button { r#type: "submit", class: "primary", "Save privately" }
            }
        }
    }
}

/// The name the partner knows this person by: asked on the first screen (`start` empty,
/// saved with the form's first, primary button) and changed on the Us screen.
#[component]
pub fn NameForm(
    journal: JournalSignal,
    notice: Notice,
    form: &'static str,
    field: &'static str,
    label: &'static str,
    start: String,
    save: &'static str,
) -> Element {
    let first = start.is_empty();
    rsx! {
        form { class: if !first { "entry-form" }, "data-form": form,
            onsubmit: move |e| {
                e.prevent_default();
                let name = typed(&e, "name");
                act(journal, notice, |j| j.set_name(&name));
            },
            label { r#for: field, "{label}" }
            input { id: field, name: "name", autocomplete: "given-name", initial_value: "{start}" }
            button { r#type: "submit", class: if first { "primary" } else { "quiet" }, "{save}" }
        }
    }
}

/// A plan's window from the two `datetime-local` fields: both empty means none.
fn window(from: &str, to: &str) -> Result<Option<TimeWindow>, String> {
    let parse = |label: &str, v: &str| -> Result<chrono::DateTime<Utc>, String> {
        let local = NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
            .map_err(|_| format!("The {label} time {v:?} isn't a date and time"))?;
        Local
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("The {label} time doesn't exist on this phone's clock"))
    };
    match (from.trim(), to.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err("A plan's time needs both a start and an end".into()),
        (f, t) => Ok(Some(TimeWindow { from: parse("start", f)?, to: parse("end", t)? })),
    }
}

/// Today's check-in: "What does trust look like today?", editable all day. The field
/// starts from what was saved today, and keeps what is typed after it.
#[component]
pub fn CheckInForm(journal: JournalSignal, notice: Notice, current: Option<String>) -> Element {
    let written = current.is_some();
    let start = current.unwrap_or_default();
    rsx! {
        form { class: "entry-form", "data-form": "checkin",
            onsubmit: move |e| {
                e.prevent_default();
                act(journal, notice, |j| j.add(Draft::CheckIn { text: typed(&e, "text") }).map(|_| ()));
            },
            label { r#for: "checkin-text", "What does trust look like today?" }
            textarea { id: "checkin-text", name: "text", rows: "3", initial_value: "{start}" }
            button { r#type: "submit", class: "primary", if written { "Update today's check-in" } else { "Save today's check-in" } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_plan_time_is_no_window_and_half_of_one_is_refused() {
        assert_eq!(window("", ""), Ok(None));
        assert!(window("2026-05-01T19:00", "").is_err());
        let w = window("2026-05-01T19:00", "2026-05-01T22:00").unwrap().unwrap();
        assert_eq!((w.to - w.from).num_hours(), 3);
        assert!(window("soon", "2026-05-01T22:00").unwrap_err().contains("isn't a date"));
    }
}
