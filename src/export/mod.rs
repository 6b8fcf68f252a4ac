//! Files a person can keep: the journal as JSON (complete, and read back by `import`) and
//! as Markdown (for reading). Pure functions of the entries; [`file`] does the IO, for the
//! command line and the window alike.

pub mod file;

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value, json};

use crate::model::fields::{Fields, timestamp_text};
use crate::model::{AgreementStatus, Body, Entry, EntryId, Person, PersonId, Practice, SafetySide};

/// Marks a JSON file as a Steady export.
pub const FORMAT: &str = "steady-journal";
/// The export's schema version. Raised when the shape changes; `import` reads every
/// version up to this one.
pub const SCHEMA_VERSION: u64 = 1;

/// Everything an export holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journal {
    pub person: Person,
    /// Everyone named in the journal, this phone's person first.
    pub people: Vec<(PersonId, String)>,
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the file is not valid JSON: {0}")]
    NotJson(String),
    #[error("the file is not a Steady export (its \"format\" is not {FORMAT:?})")]
    NotAnExport,
    #[error("the file was written by a newer version of Steady (schema {0}); update the app first")]
    TooNew(u64),
    #[error("the file's {0} is missing or unreadable")]
    Missing(&'static str),
    #[error("entry {index} can't be read: {reason}")]
    BadEntry { index: usize, reason: String },
}

/// The JSON export: every entry, private and shared, with a schema version.
pub fn to_json(journal: &Journal, exported_at: DateTime<Utc>) -> String {
    let entries: Vec<Value> = journal
        .entries
        .iter()
        .map(|e| {
            let mut m: Map<String, Value> = e.to_fields().into_iter().collect();
            m.insert("id".into(), Value::String(e.id.to_string()));
            m.insert("shared".into(), Value::Bool(e.shared));
            if e.shared_before {
                m.insert("shared_before".into(), Value::Bool(true));
            }
            // A share that had not left yet: a restore that continues the pairing sends it.
            if e.shared && e.waiting {
                m.insert("waiting".into(), Value::Bool(true));
            }
            Value::Object(m)
        })
        .collect();
    let people: Vec<Value> =
        journal.people.iter().map(|(id, name)| json!({"id": id.to_string(), "name": name})).collect();
    let doc = json!({
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "exported_at": timestamp_text(exported_at),
        "person": {"id": journal.person.id.to_string(), "name": journal.person.name},
        "people": people,
        "entries": entries,
    });
    // Serialising a `Value` can't fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Reads a JSON export back.
pub fn from_json(text: &str) -> Result<Journal, ImportError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ImportError::NotJson(e.to_string()))?;
    if root.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(ImportError::NotAnExport);
    }
    match root.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v > SCHEMA_VERSION => return Err(ImportError::TooNew(v)),
        Some(_) => {}
        None => return Err(ImportError::Missing("schema_version")),
    }
    let person = read_person(root.get("person")).ok_or(ImportError::Missing("person"))?;
    let people = match root.get("people") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|p| read_person(Some(p)).map(|p| (p.id, p.name)))
            .collect::<Option<Vec<_>>>()
            .ok_or(ImportError::Missing("people"))?,
        _ => return Err(ImportError::Missing("people")),
    };
    let Some(Value::Array(list)) = root.get("entries") else {
        return Err(ImportError::Missing("entries"));
    };
    let mut entries = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let bad = |reason: String| ImportError::BadEntry { index, reason };
        let Value::Object(map) = item else {
            return Err(bad("it is not an object".into()));
        };
        let mut fields: Fields = map.clone().into_iter().collect();
        let id: EntryId = match fields.remove("id") {
            Some(Value::String(s)) => s.parse().map_err(|e: crate::model::ModelError| bad(e.to_string()))?,
            _ => return Err(bad("its id is missing".into())),
        };
        let shared = match fields.remove("shared") {
            Some(Value::Bool(b)) => b,
            _ => return Err(bad("it does not say whether it is shared".into())),
        };
        let shared_before = match fields.remove("shared_before") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(bad("its shared_before is not true or false".into())),
        };
        let waiting = match fields.remove("waiting") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(bad("its waiting is not true or false".into())),
        };
        let mut entry = Entry::from_fields(id, shared, fields).map_err(|e| bad(e.to_string()))?;
        entry.shared_before = shared_before;
        entry.waiting = shared && waiting;
        entries.push(entry);
    }
    Ok(Journal { person, people, entries })
}

fn read_person(v: Option<&Value>) -> Option<Person> {
    let v = v?;
    let id = v.get("id")?.as_str()?.parse().ok()?;
    let name = v.get("name")?.as_str()?;
    Person::new(id, name).ok()
}

/// One line of `list --json`: the fields every element has, then the entry's own.
pub fn list_item(entry: &Entry, names: &HashMap<PersonId, String>) -> Value {
    let mut m: Map<String, Value> = entry.to_fields().into_iter().collect();
    let kind = entry.kind_name().map(|k| k.as_str().to_owned());
    m.insert("id".into(), Value::String(entry.id.to_string()));
    if let Some(kind) = kind {
        m.insert("kind".into(), Value::String(kind));
    }
    m.insert("text".into(), Value::String(entry.body.main_text().to_owned()));
    m.insert("shared".into(), Value::Bool(entry.shared));
    // Shared, but not sent to the partner yet: it can still be taken back without a trace.
    m.insert("waiting".into(), Value::Bool(entry.waiting));
    m.insert("shared_before".into(), Value::Bool(entry.shared_before));
    m.insert("author".into(), Value::String(author_name(entry.author, names)));
    m.insert("author_id".into(), Value::String(entry.author.to_string()));
    Value::Object(m)
}

fn author_name(id: PersonId, names: &HashMap<PersonId, String>) -> String {
    names.get(&id).cloned().unwrap_or_else(|| "Partner".into())
}

/// A readable Markdown file, grouped by practice, newest first within each.
pub fn to_markdown(journal: &Journal, exported_at: DateTime<Utc>, offset: FixedOffset) -> String {
    let names: HashMap<PersonId, String> = journal.people.iter().cloned().collect();
    let local = |t: DateTime<Utc>| t.with_timezone(&offset).format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    let _ = writeln!(out, "# Steady journal of {}\n", md_text(&journal.person.name));
    let _ = writeln!(out, "Exported {}. Each entry says whether it is private or shared.\n", local(exported_at));
    for practice in Practice::ALL {
        let mut entries: Vec<&Entry> = journal.entries.iter().filter(|e| e.body.practice() == Some(practice)).collect();
        if entries.is_empty() {
            continue;
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.created_at));
        let _ = writeln!(out, "## {}\n", practice.title());
        for e in entries {
            let mut tags = vec![match (e.shared, e.waiting) {
                (true, false) => "shared",
                (true, true) => "shared, not sent yet",
                (false, _) if e.shared_before => "private, shared in an earlier pairing",
                (false, _) => "private",
            }];
            if e.archived {
                tags.push("set aside");
            }
            let _ = writeln!(
                out,
                "### {} · {} · {}\n",
                local(e.created_at),
                md_text(&author_name(e.author, &names)),
                tags.join(", ")
            );
            write_body(&mut out, &e.body, &names, &local);
            out.push('\n');
        }
    }
    out
}

/// Text as a Markdown viewer shows it, and nothing more: whatever it would fetch, run or
/// make into a link (images, links, HTML, bare web addresses) is escaped, so an entry, a
/// name or a note from the partner reads as the words they are.
fn md_text(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let next = |n: usize| chars.get(i + n).copied();
        let escape = match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '<' | '>' | '!' | '|' | '#' | '~' | '&' => true,
            // A web address a viewer would link by itself: `http://`, `www.`.
            ':' => next(1) == Some('/') && next(2) == Some('/'),
            '.' => i >= 3 && chars[i - 3..i].iter().collect::<String>().eq_ignore_ascii_case("www"),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn write_body(
    out: &mut String,
    body: &Body,
    names: &HashMap<PersonId, String>,
    local: &dyn Fn(DateTime<Utc>) -> String,
) {
    let quote = |out: &mut String, label: &str, text: &str| {
        let _ = writeln!(out, "**{label}**\n");
        for line in text.lines() {
            let _ = writeln!(out, "> {}", md_text(line));
        }
        out.push('\n');
    };
    match body {
        Body::SafetyNeed { side, text } => {
            let label = match side {
                SafetySide::Helps => "What helps me feel secure",
                SafetySide::Harder => "What makes trust harder",
            };
            quote(out, label, text);
        }
        Body::Reflection { feeling, needing, understanding } => {
            quote(out, "What I was feeling", feeling);
            if let Some(n) = needing {
                quote(out, "What I was needing", n);
            }
            if let Some(u) = understanding {
                quote(out, "What I now understand", u);
            }
        }
        Body::Agreement { text, status, check_ins, .. } => {
            let label = match status {
                AgreementStatus::Active => "Agreement",
                AgreementStatus::Retired => "Agreement (retired)",
            };
            quote(out, label, text);
            for c in check_ins {
                let note = c.note.as_deref().map(|n| format!(": {}", md_text(n))).unwrap_or_default();
                let _ = writeln!(out, "- {} · {} · {}{}", c.date, c.outcome, md_text(&author_name(c.by, names)), note);
            }
            if !check_ins.is_empty() {
                out.push('\n');
            }
        }
        Body::DailyCheckIn { date, text } => quote(out, &format!("What trust looks like today ({date})"), text),
        Body::Transparency { text, window } => {
            quote(out, "Offered", text);
            if let Some(w) = window {
                let _ = writeln!(out, "From {} to {}\n", local(w.from), local(w.to));
            }
        }
        Body::Unknown { kind } => {
            let _ = writeln!(
                out,
                "_An entry of kind {}, from a newer version of Steady._\n",
                md_text(&format!("{kind:?}"))
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Draft, Outcome};
    use chrono::{NaiveDate, TimeZone};

    fn journal() -> Journal {
        let now = Utc.with_ymd_and_hms(2026, 2, 3, 4, 5, 6).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        let me = Person::new(PersonId::new(), "Alex").unwrap();
        let mut agreement = Entry::create(Draft::Agreement { text: "Be home by 7".into() }, me.id, now, today).unwrap();
        agreement.check_in(Outcome::Kept, Some("On time"), me.id, now, today).unwrap();
        agreement.shared = true;
        let mut need = Entry::create(
            Draft::SafetyNeed { side: SafetySide::Helps, text: "Plans\nsaid out loud".into() },
            me.id,
            now,
            today,
        )
        .unwrap();
        need.extra.insert("future_field".into(), json!({"nested": [1, 2]}));
        Journal { people: vec![(me.id, me.name.clone())], person: me, entries: vec![agreement, need] }
    }

    #[test]
    fn json_round_trips_every_entry() {
        let j = journal();
        let back = from_json(&to_json(&j, Utc::now())).unwrap();
        assert_eq!(back, j);
    }

    #[test]
    fn a_file_that_is_not_an_export_is_refused_clearly() {
        assert!(matches!(from_json("{"), Err(ImportError::NotJson(_))));
        assert_eq!(from_json("{\"format\":\"other\"}"), Err(ImportError::NotAnExport));
        let newer = to_json(&journal(), Utc::now()).replace("\"schema_version\": 1", "\"schema_version\": 9");
        assert_eq!(from_json(&newer), Err(ImportError::TooNew(9)));
        let broken = to_json(&journal(), Utc::now()).replace("\"Be home by 7\"", "42");
        assert!(matches!(from_json(&broken), Err(ImportError::BadEntry { index: 0, .. })));
    }

    #[test]
    fn markdown_groups_by_practice_and_marks_private_entries() {
        let md = to_markdown(&journal(), Utc::now(), FixedOffset::east_opt(0).unwrap());
        let safety = md.find("## What safety means for each of us").unwrap();
        let agreements = md.find("## Small agreements").unwrap();
        assert!(safety < agreements);
        assert!(md.contains("> Plans\n> said out loud"));
        assert!(md.contains("· Alex · private"));
        assert!(md.contains("- 2026-02-03 · kept · Alex: On time"));
    }

    /// What a Markdown viewer would fetch, run or link, in an entry, a note or a name,
    /// goes into the file as words: nothing of it renders as an image, a link or HTML.
    #[test]
    fn markdown_escapes_what_a_viewer_would_fetch_run_or_link() {
        let mut j = journal();
        let now = Utc.with_ymd_and_hms(2026, 2, 3, 4, 5, 6).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        let hostile = "![seen](http://tracker.example/p.png) <img src=x onerror=alert(1)> <script>alert(1)</script> \
                       [click](http://evil.example) www.evil.example <http://evil.example> `code`";
        let mut e = Entry::create(Draft::Agreement { text: hostile.into() }, j.person.id, now, today).unwrap();
        e.check_in(Outcome::Kept, Some("<iframe src=http://evil.example>"), j.person.id, now, today).unwrap();
        j.entries.push(e);
        j.people.push((PersonId::new(), "<b>Sam</b>](http://evil.example)".into()));
        let md = to_markdown(&j, Utc::now(), FixedOffset::east_opt(0).unwrap());
        // Live: not escaped by a backslash just before it.
        let live = |token: &str| md.match_indices(token).any(|(at, _)| at == 0 || md.as_bytes()[at - 1] != b'\\');
        for token in ["![", "<img", "<script", "<iframe", "](", "http://", "www.evil", "<http", "<b>", "`code`"] {
            assert!(!live(token), "{token:?} is live in:\n{md}");
        }
        // The words themselves are all there, to read.
        for word in ["seen", "tracker", "img", "script", "alert", "click", "evil", "example", "iframe"] {
            assert!(md.contains(word), "{word:?} is missing");
        }
    }
}
