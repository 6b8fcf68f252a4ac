//! Two paired phones' journals for the receive-path fuzz targets: Alex's, which receives,
//! and Blair's document with one entry each way already synced, to start hostile changes
//! from. Built once per fuzzing process; every input gets a fresh copy of Alex's journal,
//! so one input's effect never changes how the next is received (and a finding replays
//! from its input alone). The copies live in memory (/dev/shm when there is one), so the
//! journal's durable commits cost little.

use std::sync::{Mutex, OnceLock};

use automerge::sync::{Message, State};
use steady::model::{Body, Draft, Entry, EntryId, PersonId, SafetySide};
use steady::store::{PartnerRules, Store};
use tempfile::TempDir;

pub struct Phones {
    /// Alex's journal as it was once paired and synced; see [`Phones::alex`].
    pristine: TempDir,
    pub alex_actor: automerge::ActorId,
    /// Blair's document as Alex last received it, Blair's actor and person.
    pub blair_doc: Vec<u8>,
    pub blair_actor: automerge::ActorId,
    pub blair: PersonId,
    pub alex_person: PersonId,
    /// One entry each wrote and shared.
    pub alex_entry: EntryId,
    pub blair_entry: EntryId,
    /// Blair's first sync message to Alex, as bytes: a well-formed start for mutations.
    pub first_message: Vec<u8>,
    pub rules: PartnerRules,
    _dirs: TempDir,
}

impl Phones {
    /// A fresh copy of Alex's journal, open, and the folder it lives in.
    pub fn alex(&self) -> (Store, TempDir) {
        let dir = scratch();
        for file in std::fs::read_dir(self.pristine.path()).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(&file, dir.path().join(file.file_name().unwrap())).unwrap();
        }
        (Store::open_dir_without_passcode(dir.path()).unwrap(), dir)
    }
}

fn scratch() -> TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { TempDir::new().unwrap() }
}

pub fn phones() -> &'static Mutex<Phones> {
    static PHONES: OnceLock<Mutex<Phones>> = OnceLock::new();
    PHONES.get_or_init(|| {
        let_automerge_panics_unwind();
        Mutex::new(pair())
    })
}

/// libFuzzer's hook aborts at every panic, before it unwinds. A panic inside Automerge's
/// own parsing is caught by the store (`store::receive::guarded`) and refuses the message,
/// so those unwind to it; any other panic still aborts, and is a finding.
fn let_automerge_panics_unwind() {
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let file = info.location().map(|l| l.file()).unwrap_or_default();
        if !(file.contains("/automerge-") || file.contains("/hexane-")) {
            aborting(info);
        }
    }));
}

fn pair() -> Phones {
    let (da, db) = (scratch(), scratch());
    let mut alex = Store::open_dir_without_passcode(da.path()).unwrap();
    let mut blair = Store::open_dir_without_passcode(db.path()).unwrap();
    alex.init("Alex").unwrap();
    blair.init("Blair").unwrap();
    alex.start_couple("5f3c0e0c6a3b4b0e9d1c2a7e8f9a0b1c", "them").unwrap();
    blair.start_couple("5f3c0e0c6a3b4b0e9d1c2a7e8f9a0b1c", "them").unwrap();
    let alex_entry = alex.add(Draft::Agreement { text: "Text when running late".into() }).unwrap().id;
    let blair_entry =
        blair.add(Draft::SafetyNeed { side: SafetySide::Helps, text: "Hearing the plan".into() }).unwrap().id;
    alex.share(alex_entry).unwrap();
    blair.share(blair_entry).unwrap();
    let rules_for = |s: &Store| PartnerRules { person: s.me().unwrap().id, actors: vec![s.actor()], history: vec![] };
    let (to_alex, to_blair) = (rules_for(&blair), rules_for(&alex));
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut first_message = None;
    for _ in 0..20 {
        alex.fold_outbox().unwrap();
        blair.fold_outbox().unwrap();
        let from_a = alex.sync_message(&mut sa).unwrap();
        let from_b = blair.sync_message(&mut sb).unwrap();
        if from_a.is_none() && from_b.is_none() {
            break;
        }
        if let Some(m) = from_a {
            blair.receive_sync_message(&mut sb, m, &to_blair).unwrap();
        }
        if let Some(m) = from_b {
            first_message.get_or_insert_with(|| m.clone().encode());
            alex.receive_sync_message(&mut sa, m, &to_alex).unwrap();
        }
    }
    Phones {
        blair_doc: blair.document_bytes().unwrap(),
        blair_actor: blair.actor(),
        blair: blair.me().unwrap().id,
        alex_person: alex.me().unwrap().id,
        alex_entry,
        blair_entry,
        first_message: first_message.expect("Blair had something to send"),
        rules: to_alex,
        alex_actor: {
            let actor = alex.actor();
            // Closed, so the copies start from a whole file.
            drop(alex);
            actor
        },
        pristine: da,
        _dirs: db,
    }
}

/// What the rules keep Alex's alone: Alex's entries with Alex's own check-ins, and the
/// name the shared document gives Alex. The partner may add check-ins of their own to
/// Alex's shared agreements, and nothing else of this.
#[derive(Debug, PartialEq)]
pub struct Mine {
    entries: Vec<Entry>,
    name: Option<String>,
}

impl Mine {
    pub fn of(alex: &mut Store, me: PersonId) -> Mine {
        let mut entries: Vec<Entry> = alex.entries().unwrap().into_iter().filter(|e| e.author == me).collect();
        for entry in &mut entries {
            if let Body::Agreement { check_ins, .. } = &mut entry.body {
                check_ins.retain(|c| c.by == me);
            }
        }
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        let name = alex.people().unwrap().into_iter().find(|(id, _)| *id == me).map(|(_, name)| name);
        Mine { entries, name }
    }
}

/// Hands `message` to Alex's journal as the partner's, and checks what every receive
/// must keep: a refused message leaves the document as it was, an accepted one changes
/// only what the rules allow, and either way the index matches the document.
pub fn receive_and_check(alex: &mut Store, message: Message, phones: &Phones) {
    let before = alex.document_bytes().unwrap();
    let mine = Mine::of(alex, phones.alex_person);
    if alex.receive_sync_message(&mut State::new(), message, &phones.rules).is_err() {
        assert_eq!(alex.document_bytes().unwrap(), before, "a refused message changed the document");
    } else {
        assert_only_what_the_rules_allow(alex, &mine, phones);
    }
    alex.verify_index().expect("the index matches the document");
}

/// Writes the input over `bytes`: its first byte says where, in 256ths of the length,
/// and the rest is written there, lengthening `bytes` where it runs past the end.
pub fn overwrite(bytes: &mut Vec<u8>, data: &[u8]) {
    if let Some((&at, patch)) = data.split_first() {
        let at = usize::from(at) * bytes.len() / 256;
        let end = (at + patch.len()).min(bytes.len());
        bytes[at..end].copy_from_slice(&patch[..end - at]);
        bytes.extend_from_slice(&patch[end - at..]);
    }
}

/// After a message was accepted: Alex's entries and name are as they were, and every
/// check-in on Alex's entries that is not Alex's is the partner's.
pub fn assert_only_what_the_rules_allow(alex: &mut Store, before: &Mine, phones: &Phones) {
    assert_eq!(&Mine::of(alex, phones.alex_person), before, "an accepted message changed what is Alex's alone");
    for entry in alex.entries().unwrap().iter().filter(|e| e.author == phones.alex_person) {
        if let Body::Agreement { check_ins, .. } = &entry.body {
            for c in check_ins {
                assert!(c.by == phones.alex_person || c.by == phones.blair, "a check-in by someone else: {c:?}");
            }
        }
    }
}
