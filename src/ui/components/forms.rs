//! Forms for writing entries. A form keeps what was typed until the save succeeds; a
//! failed save shows why and loses nothing.

use chrono::{Local, NaiveDateTime, TimeZone, Utc};
use dioxus::prelude::*;

use crate::model::{Draft, SafetySide, TimeWindow, nudge};
use crate::ui::{JournalSignal, Notice, act};

#[component]
pub fn SafetyForm(journal: JournalSignal, notice: Notice, side: SafetySide) -> Element {
    let mut text = use_signal(String::new);
    let (id, label) = match side {
        SafetySide::Helps => ("safety-helps", "What helps me feel secure with you"),
        SafetySide::Harder => ("safety-harder", "What makes trust harder for me"),
    };
    rsx! {
        form { class: "entry-form", "data-form": id,
            onsubmit: move |e| {
                e.prevent_default();
                if act(journal, notice, |j| j.add(Draft::SafetyNeed { side, text: text() }).map(|_| ())) {
                    text.set(String::new());
                }
            },
            label { r#for: "{id}-text", "{label}" }
            textarea { id: "{id}-text", rows: "2", value: "{text}", oninput: move |e| text.set(e.value()) }
            button { r#type: "submit", class: "primary", "Save privately" }
        }
    }
}

#[component]
pub fn ReflectionForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut feeling = use_signal(String::new);
    let mut needing = use_signal(String::new);
    let mut understanding = use_signal(String::new);
    let all = format!("{} {} {}", feeling(), needing(), understanding());
    let gentle = nudge::suggestion(&all);
    rsx! {
        form { class: "entry-form", "data-form": "reflection",
            onsubmit: move |e| {
                e.prevent_default();
                let draft = Draft::Reflection {
                    feeling: feeling(),
                    needing: Some(needing()),
                    understanding: Some(understanding()),
                };
                if act(journal, notice, |j| j.add(draft).map(|_| ())) {
                    feeling.set(String::new());
                    needing.set(String::new());
                    understanding.set(String::new());
                }
            },
            label { r#for: "reflection-feeling", "What I was feeling" }
            textarea { id: "reflection-feeling", rows: "2", value: "{feeling}", oninput: move |e| feeling.set(e.value()) }
            label { r#for: "reflection-needing", "What I was needing" }
            textarea { id: "reflection-needing", rows: "2", value: "{needing}", oninput: move |e| needing.set(e.value()) }
            label { r#for: "reflection-understanding", "What I now understand about you (optional)" }
            textarea { id: "reflection-understanding", rows: "2", value: "{understanding}", oninput: move |e| understanding.set(e.value()) }
            if let Some(words) = gentle {
                p { class: "nudge", role: "note", "data-nudge": "blame", "{words}" }
            }
            button { r#type: "submit", class: "primary", "Save privately" }
        }
    }
}

#[component]
pub fn AgreementForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut text = use_signal(String::new);
    rsx! {
        form { class: "entry-form", "data-form": "agreement",
            onsubmit: move |e| {
                e.prevent_default();
                if act(journal, notice, |j| j.add(Draft::Agreement { text: text() }).map(|_| ())) {
                    text.set(String::new());
                }
            },
            label { r#for: "agreement-text", "A small agreement" }
            input { id: "agreement-text", value: "{text}", placeholder: "Text when I'm running late", oninput: move |e| text.set(e.value()) }
            button { r#type: "submit", class: "primary", "Save privately" }
        }
    }
}

#[component]
pub fn TransparencyForm(journal: JournalSignal, notice: Notice) -> Element {
    let mut text = use_signal(String::new);
    let mut from = use_signal(String::new);
    let mut to = use_signal(String::new);
    rsx! {
        form { class: "entry-form", "data-form": "transparency",
            onsubmit: move |e| {
                e.prevent_default();
                let saved = act(journal, notice, |j| {
                    let window = window(&from(), &to())?;
                    j.add(Draft::Transparency { text: text(), window }).map(|_| ())
                });
                if saved {
                    text.set(String::new());
                    from.set(String::new());
                    to.set(String::new());
                }
            },
            label { r#for: "transparency-text", "Something I'd like you to know" }
            textarea { id: "transparency-text", rows: "2", value: "{text}", oninput: move |e| text.set(e.value()) }
            fieldset {
                legend { "A plan's time (optional)" }
                label { r#for: "transparency-from", "From" }
                input { id: "transparency-from", r#type: "datetime-local", value: "{from}", oninput: move |e| from.set(e.value()) }
                label { r#for: "transparency-to", "To" }
                input { id: "transparency-to", r#type: "datetime-local", value: "{to}", oninput: move |e| to.set(e.value()) }
            }
            button { r#type: "submit", class: "primary", "Save privately" }
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

/// Today's check-in: "What does trust look like today?", editable all day.
#[component]
pub fn CheckInForm(journal: JournalSignal, notice: Notice, current: Option<String>) -> Element {
    let mut text = use_signal(|| current.clone().unwrap_or_default());
    let written = current.is_some();
    rsx! {
        form { class: "entry-form", "data-form": "checkin",
            onsubmit: move |e| {
                e.prevent_default();
                act(journal, notice, |j| j.add(Draft::CheckIn { text: text() }).map(|_| ()));
            },
            label { r#for: "checkin-text", "What does trust look like today?" }
            textarea { id: "checkin-text", rows: "3", value: "{text}", oninput: move |e| text.set(e.value()) }
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
