//! Valid Automerge changes with hostile shapes, as a modified app on the partner's phone
//! could make them: puts, objects nested without end, deletions, list and text edits,
//! counters, anywhere in the document (the root, the people, my entry, theirs), under the
//! partner's device or mine, sent whole, in pieces or with some left out. Through the real
//! receive path, each is either kept whole (and then follows the rules) or refused with
//! the store left as it was; nothing panics.
#![no_main]

use arbitrary::Arbitrary;
use automerge::sync::State;
use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use libfuzzer_sys::fuzz_target;
use steady_fuzz::{phones, receive_and_check};

#[derive(Arbitrary, Debug)]
enum Step {
    /// Where the next steps act: 0 root, 1 people, 2 entries, 3 my entry, 4 theirs, 5 their
    /// person, else one of the objects made so far.
    At(u8),
    Put {
        key: u8,
        value: Value,
    },
    Make {
        key: u8,
        list: bool,
    },
    /// Nests this many maps (up to 63) below the current object, and stays at the bottom.
    Nest(u16),
    Delete {
        key: u8,
    },
    Insert {
        index: u8,
        value: Value,
    },
    Splice {
        index: u8,
        delete: u8,
        text: String,
    },
    Increment {
        key: u8,
        by: i16,
    },
    /// Ends the change; the next begins.
    Commit,
    /// The following changes are made under my device instead of the partner's.
    AsMe,
}

#[derive(Arbitrary, Debug)]
enum Value {
    Text(String),
    Int(i64),
    Counter(i16),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl Value {
    fn scalar(self) -> ScalarValue {
        match self {
            Value::Text(t) => ScalarValue::Str(t.into()),
            Value::Int(i) => ScalarValue::Int(i),
            Value::Counter(c) => ScalarValue::counter(i64::from(c)),
            Value::Bool(b) => ScalarValue::Boolean(b),
            Value::Bytes(b) => ScalarValue::Bytes(b),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Plan {
    steps: Vec<Step>,
    /// Which of the changes made are sent: all of them unless some bits are set.
    leave_out: u32,
    /// Sent in reverse order.
    reversed: bool,
}

fn find(doc: &impl ReadDoc, obj: &ObjId, k: &str) -> Option<ObjId> {
    doc.get(obj, k).ok().flatten().map(|(_, id)| id)
}

const KEYS: [&str; 12] =
    ["text", "kind", "author", "created_at", "check_ins", "status", "name", "note", "outcome", "side", "x", ""];

fuzz_target!(|plan: Plan| {
    let phones = phones().lock().unwrap_or_else(|p| p.into_inner());
    let (mut alex, _dir) = phones.alex();
    let Ok(mut doc) = Automerge::load(&phones.blair_doc) else { return };
    doc.set_actor(phones.blair_actor.clone());
    let key = |k: u8, phones: &steady_fuzz::Phones| -> String {
        match k % 16 {
            12 => phones.blair.to_string(),
            13 => phones.alex_person.to_string(),
            14 => phones.alex_entry.to_string(),
            15 => phones.blair_entry.to_string(),
            i => KEYS[usize::from(i)].to_owned(),
        }
    };
    let mut made: Vec<ObjId> = Vec::new();
    let mut at = ROOT;
    let mut changes = Vec::new();
    let mut tx = doc.transaction();
    for step in plan.steps.into_iter().take(200) {
        match step {
            Step::At(i) => {
                let people = find(&tx, &ROOT, "people").unwrap_or(ROOT);
                let entries = find(&tx, &ROOT, "entries").unwrap_or(ROOT);
                at = match i {
                    0 => ROOT,
                    1 => people,
                    2 => entries.clone(),
                    3 => find(&tx, &entries, &phones.alex_entry.to_string()).unwrap_or(ROOT),
                    4 => find(&tx, &entries, &phones.blair_entry.to_string()).unwrap_or(ROOT),
                    5 => find(&tx, &people, &phones.blair.to_string()).unwrap_or(ROOT),
                    n => made.get(usize::from(n) % made.len().max(1)).cloned().unwrap_or(ROOT),
                };
            }
            Step::Put { key: k, value } => {
                let _ = tx.put(&at, key(k, &phones), value.scalar());
            }
            Step::Make { key: k, list } => {
                let kind = if list { ObjType::List } else { ObjType::Map };
                if let Ok(obj) = tx.put_object(&at, key(k, &phones), kind) {
                    made.push(obj);
                }
            }
            Step::Nest(levels) => {
                // Far past the rules' depth of eight; the store's own test goes to 20,000.
                for _ in 0..(levels % 64) {
                    match tx.put_object(&at, "x", ObjType::Map) {
                        Ok(obj) => at = obj,
                        Err(_) => break,
                    }
                }
                made.push(at.clone());
            }
            Step::Delete { key: k } => {
                let _ = tx.delete(&at, key(k, &phones));
            }
            Step::Insert { index, value } => {
                let _ = tx.insert(&at, usize::from(index), value.scalar());
            }
            Step::Splice { index, delete, text } => {
                let _ = tx.splice_text(&at, usize::from(index), isize::from(delete), &text);
            }
            Step::Increment { key: k, by } => {
                let _ = tx.increment(&at, key(k, &phones), i64::from(by));
            }
            Step::Commit | Step::AsMe => {
                let as_me = matches!(step, Step::AsMe);
                tx.commit();
                if let Some(change) = doc.get_last_local_change() {
                    changes.push(change.raw_bytes().to_vec());
                }
                if as_me {
                    doc.set_actor(phones.alex_actor.clone());
                }
                tx = doc.transaction();
            }
        }
    }
    tx.commit();
    if let Some(change) = doc.get_last_local_change() {
        changes.push(change.raw_bytes().to_vec());
    }
    changes.dedup();
    let mut sent: Vec<Vec<u8>> = changes
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i >= 32 || plan.leave_out & (1 << i) == 0)
        .map(|(_, c)| c)
        .collect();
    if plan.reversed {
        sent.reverse();
    }
    if sent.is_empty() {
        return;
    }
    let Ok(Some(mut message)) = alex.sync_message(&mut State::new()) else { return };
    message.changes = sent.into();
    receive_and_check(&mut alex, message, &phones);
});
