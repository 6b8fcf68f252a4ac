//! One phone's journal on disk: a single SQLite file (WAL mode) that holds private entries
//! in a local table and the couple's shared Automerge document as a chunk log.
//!
//! Private entries never enter the shared document. Sharing moves an entry from the
//! private table into the document in one SQLite transaction, so an interrupted share
//! leaves it in exactly one of the two places.

mod chunks;
pub mod doc;
mod error;
mod index;
pub mod inflate;
mod receive;
mod rows;
pub mod rules;
mod schema;
pub(crate) mod sealed;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge};
use chrono::{DateTime, Local, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::model::fields::Change;
use crate::model::{AgreementStatus, CheckIn, Draft, Entry, EntryId, ModelError, Outcome, Person, PersonId};
use crate::vault::DataKey;

use chunks::ChunkCursor;
pub use error::StoreError;
pub use index::Touched;
use rows::{Pending, Table, Waiting};
pub use rules::{PartnerRules, RuleBreak};

/// How long "Undo" is offered after "Share with partner" in the app, before the entry
/// may leave the phone.
pub const UNDO_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// What taking an entry back from the partner did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unshared {
    /// The entry, private again.
    pub entry: Entry,
    /// Whether the partner's phone already had a copy. When it did not, the entry never
    /// left this phone and leaves no trace anywhere.
    pub partner_has_copy: bool,
}

impl Unshared {
    /// The plain words for what happened.
    pub fn explain(&self) -> &'static str {
        if self.partner_has_copy {
            "It is private again on this phone, but your partner's phone already has a copy."
        } else {
            "It was not sent yet: it stays private, and your partner never saw it."
        }
    }
}

/// The shared document of a pairing that has ended, kept read-only on this phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastDocument {
    pub id: i64,
    /// The partner's name, as this phone knew it.
    pub partner: String,
    pub ended_at: DateTime<Utc>,
}

/// The data file's name inside the data directory (named with the data folder's other
/// files, in `vault`).
pub use crate::vault::DB_FILE;

/// A step inside a shared write where a test can make the write fail, to prove that a
/// failure at any point leaves the journal whole. Not used by the app.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailPoint {
    /// The in-memory document has the change; nothing is on disk yet.
    AfterDocChange,
    /// The change's chunk is written, inside the still-open transaction.
    AfterChunkWrite,
    /// The private table is updated too, and the transaction is not yet committed.
    AfterLocalWrite,
    /// A received message is applied, checked, shown and written, and its transaction is
    /// not yet committed.
    BeforeReceivedCommit,
}

/// A source of the current time. Tests pin it; the app uses the phone's clock.
pub type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// The journal of the person on this phone.
pub struct Store {
    conn: Connection,
    /// The data key, also inside `conn` as its `seal` and `unseal` functions; lists
    /// open their rows with it directly, on both cores.
    key: DataKey,
    path: PathBuf,
    doc: Automerge,
    cursor: ChunkCursor,
    /// Which shared document the in-memory one is: it changes when a pairing ends, so a
    /// process that still holds the old one reloads instead of writing into the new one.
    generation: String,
    me: Option<Person>,
    clock: Clock,
    fail_at: Option<FailPoint>,
    /// Bytes of changes received from the partner since the document last had nothing
    /// waiting for changes this phone lacks (at most [`MAX_HELD_BACK`]).
    held_back: usize,
    /// Long index rows already decoded (`rows::Opened`).
    opened: std::cell::RefCell<rows::Opened>,
    /// This person's name as the document in memory is known to hold it, so a fold does
    /// not read the names again each time: a document only grows, and one loaded or
    /// started afresh forgets it.
    name_in_doc: Option<Person>,
    /// `PRAGMA data_version` when this connection last picked up what others wrote: while
    /// it stays the same, nobody else committed, and memory already holds the file.
    seen_version: Option<i64>,
}

/// The most bytes of changes from the partner's phone that may arrive while some of them
/// wait for earlier changes this phone has not received. The sync protocol sends changes
/// after what they build on, so an honest phone leaves something waiting rarely, and for
/// a round; without a bound a modified app could fill this phone's memory with changes
/// that never apply. (Automerge keeps such changes in memory only: a reload drops them.)
pub const MAX_HELD_BACK: usize = 8 * 1024 * 1024;

/// The most bytes the changes in one sync message may take once inflated. A first sync
/// of ten thousand entries is a small part of it; a modified app's message that would
/// inflate past it is refused before anything is inflated.
pub const MAX_INFLATED: u64 = 128 * 1024 * 1024;
/// The most operations one sync message may declare. A first sync of 10,000 entries
/// declares about 100,000 (`tests/slow_wifi.rs`), so this is room for about 200,000
/// entries; Automerge builds declared operations one by one, and a run-length column can
/// declare billions in a few bytes.
pub const MAX_DECLARED_OPS: u64 = 2_000_000;

/// Where an entry lives.
enum Place {
    /// Only on this phone.
    Private,
    /// Shared by its author, waiting in the outbox; the partner has never received it.
    Waiting { ready_at: DateTime<Utc> },
    /// In the shared document. `waiting` is my change of it that waits in the outbox, if
    /// any, and when it may be sent.
    Shared { waiting: Option<(Change, DateTime<Utc>)> },
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Opens the journal in `dir` with its data key (from `vault`), creating the
    /// directory and the file on first use. A journal written before encryption is
    /// encrypted in place, in one transaction, with this key.
    pub fn open_dir(dir: &Path, key: &DataKey) -> Result<Store, StoreError> {
        make_dir(dir)?;
        Store::open(&dir.join(DB_FILE), key)
    }

    /// Opens the journal in `dir` kept without a passcode, setting up its key first if
    /// the directory has none: for tests, benchmarks and tools. A journal with a
    /// passcode is refused as locked.
    pub fn open_dir_without_passcode(dir: &Path) -> Result<Store, StoreError> {
        let key = crate::vault::open_without_passcode(dir).map_err(|e| StoreError::Locked(e.to_string()))?;
        Store::open_dir(dir, &key)
    }

    /// Checks, without writing anything, that the file in `dir` is a journal of Steady
    /// from before encryption, whole and readable: what `vault` sees as unencrypted is
    /// only encrypted once this passes.
    pub fn check_earlier_version(dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(DB_FILE);
        if !check_file(&path)? {
            return Ok(());
        }
        let mut uri = std::ffi::OsString::from("file:");
        uri.push(path.as_os_str());
        uri.push("?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(std::path::Path::new(&uri), flags).map_err(|e| damage_or(e, &path))?;
        let checked = (|| {
            let version = schema::version(&conn)?;
            if version > schema::CURRENT {
                return Err(StoreError::TooNew { path: path.clone(), found: version, supported: schema::CURRENT });
            }
            let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if version == 0 && tables > 0 {
                return Err(StoreError::corrupt("it is an SQLite file, but not one of Steady's"));
            }
            conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)).and_then(|r| {
                if r == "ok" {
                    Ok(())
                } else {
                    Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(11), Some(r)))
                }
            })?;
            Ok(())
        })();
        checked.map_err(|e| match e {
            StoreError::Sqlite(e) => damage_or(e, &path),
            other => other.at(&path),
        })
    }

    /// Opens the journal file at `path`. A damaged file is reported and left unchanged.
    pub fn open(path: &Path, key: &DataKey) -> Result<Store, StoreError> {
        Store::open_then(path, key, |_| Ok(())).map(|(store, ())| store)
    }

    /// Opens the journal in `dir` and lists every entry, as the app does at launch. The
    /// private entries are read while the shared document loads on another core.
    pub fn open_dir_with_entries(dir: &Path, key: &DataKey) -> Result<(Store, Vec<Entry>), StoreError> {
        make_dir(dir)?;
        let (store, listed) = Store::open_then(&dir.join(DB_FILE), key, |conn| {
            // The index is only trusted when it reflects every chunk row; otherwise setup
            // rebuilds it from the document and the list is read afresh below.
            if index::is_current(conn)? { list(conn, key).map(Some) } else { Ok(None) }
        })?;
        let entries = match listed {
            Some(entries) => entries,
            None => list(&store.conn, key)?,
        };
        Ok((store, entries))
    }

    /// Opens `path`, running `meanwhile` on the file's connection while the shared
    /// document loads. `meanwhile` only runs on a journal that has its tables.
    fn open_then<T: Default>(
        path: &Path,
        key: &DataKey,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        let has_data = check_file(path)?;
        create_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| damage_or(e, path))?;
        sealed::install(&conn, key)?;
        let opened = Store::setup(conn, key, path.to_owned(), has_data, meanwhile);
        keep_private(path);
        opened.map_err(|e| match e {
            StoreError::Sqlite(e) => damage_or(e, path),
            other => other.at(path),
        })
    }

    /// A journal that lives only in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        let key = DataKey::random();
        sealed::install(&conn, &key)?;
        Store::setup(conn, &key, PathBuf::from(":memory:"), false, |_| Ok(())).map(|(s, ())| s)
    }

    fn setup<T: Default>(
        mut conn: Connection,
        key: &DataKey,
        path: PathBuf,
        has_data: bool,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Reads first: a damaged or foreign file must fail here, before anything is written.
        let mut version = schema::version(&conn)?;
        if version > schema::CURRENT {
            return Err(StoreError::TooNew { path, found: version, supported: schema::CURRENT });
        }
        if version == 0 && has_data {
            let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(StoreError::corrupt("it is an SQLite file, but not one of Steady's"));
            }
        }
        if version > 0 && version < schema::SEALED {
            // A journal from before encryption: sealed in place, in one transaction, so
            // that a crash leaves it whole as it was or whole and sealed. What it held in
            // the clear is then overwritten (`secure_delete`), and the file rewritten.
            set_pragmas(&conn)?;
            schema::migrate(&mut conn, version, |tx| set_meta(tx, KEY_CHECK, KEY_CHECK))?;
            conn.execute_batch("VACUUM")?;
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            version = schema::CURRENT;
        }
        if version > 0 {
            check_key(&conn, &path)?;
        }
        let mut doc = Automerge::new();
        let mut cursor = ChunkCursor::default();
        let mut extra = T::default();
        if version > 0 {
            let rows = chunks::read_rows(&conn, 0)?;
            let (loaded, other) = std::thread::scope(|scope| {
                let loading = scope.spawn(|| {
                    let mut doc = Automerge::new();
                    let mut cursor = ChunkCursor::default();
                    chunks::apply_rows(rows, &mut doc, &mut cursor).map(|()| (doc, cursor))
                });
                // An older schema lacks tables the lists read; it is listed after migrating.
                let other = if version == schema::CURRENT { meanwhile(&conn) } else { Ok(T::default()) };
                let loaded = loading
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::corrupt("the shared document could not be loaded")));
                (loaded, other)
            });
            (doc, cursor) = loaded?;
            extra = other?;
        }
        set_pragmas(&conn)?;
        if version < schema::CURRENT {
            schema::migrate(&mut conn, version, |tx| set_meta(tx, KEY_CHECK, KEY_CHECK))?;
        }
        let actor = ensure_actor(&conn)?;
        if doc.get_heads().is_empty() {
            // A new journal, or one whose first start was cut short: write the genesis.
            doc = doc::genesis();
            let tx = conn.transaction()?;
            chunks::append(&tx, &doc.get_changes(&[]), &mut cursor)?;
            tx.commit()?;
        }
        if !index::is_current(&conn)? {
            // Looked at again with the file held, the document caught up first: another
            // process (the node) may have written since this one read the document, and
            // an index rebuilt from an older document would hide what it wrote.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            chunks::catch_up(&tx, &mut doc, &mut cursor).map_err(|e| e.at(&path))?;
            if !index::is_current(&tx)? {
                index::rebuild(&tx, &doc, cursor.last_seq)?;
            }
            tx.commit()?;
        }
        doc.set_actor(actor);
        let me = read_me(&conn)?;
        let generation = get_meta(&conn, GENERATION)?.unwrap_or_default();
        let mut store = Store {
            conn,
            key: key.clone(),
            path,
            doc,
            cursor,
            generation,
            me,
            clock: Box::new(Utc::now),
            fail_at: None,
            held_back: 0,
            opened: Default::default(),
            name_in_doc: None,
            seen_version: None,
        };
        if get_meta(&store.conn, UPGRADE_DOCUMENT)?.is_some() {
            // Asked for by the migration; done again after a crash part way, since both
            // steps find nothing left to do the second time.
            store.upgrade_shared_document()?;
            store.conn.execute("DELETE FROM meta WHERE key = ?1", [UPGRADE_DOCUMENT])?;
        }
        Ok((store, extra))
    }

    /// A journal from before sharing waited for the partner: whatever its shared document
    /// holds was shared under rules that no longer hold (no confirmed words, no couple of
    /// its own). If it holds anything of a partner's, or this phone was paired, it becomes
    /// the document of a pairing that has ended, and the pairing is made again. Otherwise
    /// nobody ever received it, and my shared entries wait to be shared, as they would now.
    fn upgrade_shared_document(&mut self) -> Result<(), StoreError> {
        if self.doc.get_heads() == doc::genesis().get_heads() {
            return Ok(());
        }
        let me = self.me.as_ref().map(|p| p.id);
        let people = doc::people(&self.doc)?;
        let partner_name = people.iter().find(|(id, _)| Some(*id) != me).map(|(_, n)| n.clone());
        let others_wrote = doc::entry_ids(&self.doc)?
            .iter()
            .any(|(id, obj)| doc::read_entry(&self.doc, *id, obj).map(|e| Some(e.author) != me).unwrap_or(true));
        let was_paired = get_meta(&self.conn, "setting.net.partner")?.is_some();
        if others_wrote || was_paired || partner_name.is_some() {
            self.retire_document(Some(partner_name.as_deref().unwrap_or("your partner")))
        } else {
            self.retire_document(None)
        }
    }

    /// The file this store lives in (`:memory:` for tests).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The person on this phone, once set up.
    pub fn me(&self) -> Option<&Person> {
        self.me.as_ref()
    }

    fn require_me(&self) -> Result<PersonId, StoreError> {
        self.me.as_ref().map(|p| p.id).ok_or(StoreError::NotSetUp)
    }

    /// Sets up this phone's person, or changes the name they go by. The name is shared
    /// with the partner so their phone can say who wrote what.
    pub fn init(&mut self, name: &str) -> Result<Person, StoreError> {
        let id = self.me.as_ref().map(|p| p.id).unwrap_or_default();
        let person = Person::new(id, name)?;
        // The name reaches the shared document only when the partner is about to receive
        // it, with the first message of a sync (`fold_outbox`).
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_meta(&sql, "person_id", &person.id.to_string())?;
        set_meta(&sql, "person_name", &person.name)?;
        sql.commit()?;
        self.me = Some(person.clone());
        Ok(person)
    }

    /// A setting of this phone's app (never shared), if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, &setting_key(key))
    }

    /// Remembers a setting of this phone's app. It stays on this phone.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        set_meta(&self.conn, &setting_key(key), value)
    }

    /// Forgets a setting of this phone's app.
    pub fn remove_setting(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [setting_key(key)])?;
        Ok(())
    }

    /// A number that changes whenever another connection to this file (the window, or
    /// the command line) commits. Cheap enough to ask many times a second.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.prepare_cached("PRAGMA data_version")?.query_row([], |row| row.get(0))?)
    }

    /// Picks up, in memory, what other connections to this file wrote.
    pub fn catch_up(&mut self) -> Result<(), StoreError> {
        self.refresh()
    }

    /// Pins the clock, for tests.
    #[doc(hidden)]
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Makes the next shared write fail at `at`, for tests.
    #[doc(hidden)]
    pub fn inject_failure(&mut self, at: Option<FailPoint>) {
        self.fail_at = at;
    }

    fn now(&self) -> (DateTime<Utc>, NaiveDate) {
        let now = (self.clock)();
        (now, now.with_timezone(&Local).date_naive())
    }

    // ----- Reading -----

    /// Every entry, private and shared, newest first.
    pub fn entries(&mut self) -> Result<Vec<Entry>, StoreError> {
        self.refresh()?;
        list(&self.conn, &self.key)
    }

    /// One entry, wherever it lives.
    pub fn get(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        self.refresh()?;
        self.locate(id).map(|(e, _)| e)
    }

    /// The names of everyone who has written in this journal: this phone's person and,
    /// once paired, the partner.
    pub fn people(&mut self) -> Result<Vec<(PersonId, String)>, StoreError> {
        self.refresh()?;
        let mut people: Vec<(PersonId, String)> =
            index::people(&self.conn)?.into_iter().filter_map(|(id, name)| Some((id.parse().ok()?, name))).collect();
        if let Some(me) = &self.me {
            people.retain(|(id, _)| *id != me.id);
            people.insert(0, (me.id, me.name.clone()));
        }
        Ok(people)
    }

    fn locate(&self, id: EntryId) -> Result<(Entry, Place), StoreError> {
        // The index holds the document's entries as they read, in step with it in every
        // transaction: one row to open, where the document would be read field by field
        // (an agreement's hundreds of check-ins). An entry the index leaves out, one this
        // version can't read, is read from the document for the reason.
        let in_doc = || match rows::get_index(&self.conn, id, &mut self.opened.borrow_mut())? {
            Some(entry) => Ok(Some(entry)),
            None => match doc::find_entry(&self.doc, id)? {
                Some(obj) => Ok(Some(doc::read_entry(&self.doc, id, &obj)?)),
                None => Ok(None),
            },
        };
        place(&self.conn, id, in_doc, || self.is_staged())?.ok_or(StoreError::NotFound(id))
    }

    /// Checks that the index of shared entries says exactly what the document says, for
    /// tests.
    #[doc(hidden)]
    pub fn verify_index(&mut self) -> Result<(), String> {
        // One snapshot of the file for both, whatever another process writes meanwhile.
        self.conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
        let read = (|| -> Result<(Vec<Entry>, Vec<Entry>), String> {
            self.refresh().map_err(|e| e.to_string())?;
            let mut from_index: Vec<Entry> =
                rows::all(&self.conn, &self.key, Table::SharedIndex).map_err(|e| e.to_string())?;
            sort_newest_first(&mut from_index);
            let mut from_doc = Vec::new();
            for (id, obj) in doc::entry_ids(&self.doc).map_err(|e| e.to_string())? {
                if let Ok(e) = doc::read_entry(&self.doc, id, &obj) {
                    from_doc.push(e);
                }
            }
            sort_newest_first(&mut from_doc);
            Ok((from_index, from_doc))
        })();
        let _ = self.conn.execute_batch("END");
        let (from_index, from_doc) = read?;
        if from_index == from_doc { Ok(()) } else { Err(format!("index {from_index:#?}\ndocument {from_doc:#?}")) }
    }

    /// Picks up what another process on this phone wrote since we last looked. When no
    /// other connection has committed since, that is one question to SQLite, not four:
    /// each statement outside a transaction takes and drops the file's read lock, and the
    /// sealed settings are opened one by one.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let version = self.data_version()?;
        if self.seen_version == Some(version) {
            return Ok(());
        }
        if get_meta(&self.conn, GENERATION)?.unwrap_or_default() != self.generation {
            self.reload()?;
        }
        chunks::catch_up(&self.conn, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        self.me = read_me(&self.conn)?;
        self.seen_version = Some(version);
        Ok(())
    }

    // ----- Writing -----

    /// Writes a new private entry. A second check-in on the same day edits the first.
    pub fn add(&mut self, draft: Draft) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        let (now, today) = self.now();
        if let Draft::CheckIn { .. } = draft
            && let Some(existing) = self.todays_check_in(me, today)?
        {
            return self.edit(existing, draft);
        }
        let entry = Entry::create(draft, me, now, today)?;
        self.put_private(&entry)?;
        Ok(entry)
    }

    /// This person's check-in for `today`, private or shared.
    pub fn todays_check_in(&mut self, me: PersonId, today: NaiveDate) -> Result<Option<EntryId>, StoreError> {
        self.refresh()?;
        rows::daily_check_in(&self.conn, me, &today.to_string())
    }

    /// New words for one of my entries.
    pub fn edit(&mut self, id: EntryId, draft: Draft) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        let (now, _) = self.now();
        self.update(id, |e| e.edit(draft, me, now))
    }

    /// Records how an agreement went today.
    pub fn check_in(&mut self, id: EntryId, outcome: Outcome, note: Option<&str>) -> Result<CheckIn, StoreError> {
        let me = self.require_me()?;
        let (now, today) = self.now();
        let mut made = None;
        self.update(id, |e| {
            made = Some(e.check_in(outcome, note, me, now, today)?);
            Ok(())
        })?;
        made.ok_or(StoreError::Invalid(ModelError::NotAnAgreement))
    }

    /// Retires an agreement, or brings a retired one back.
    pub fn set_agreement_status(&mut self, id: EntryId, status: AgreementStatus) -> Result<Entry, StoreError> {
        self.require_me()?;
        let (now, _) = self.now();
        self.update(id, |e| e.set_agreement_status(status, now))
    }

    /// Sets an entry aside: acknowledged, out of the daily views, never deleted.
    pub fn archive(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        self.set_archived(id, true)
    }

    /// Brings a set-aside entry back.
    pub fn restore(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        self.set_archived(id, false)
    }

    fn set_archived(&mut self, id: EntryId, archived: bool) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        let (now, _) = self.now();
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        if let Place::Private = place {
            entry.set_archived(archived, me, now)?;
            self.put_private(&entry)?;
            return Ok(entry);
        }
        // Setting a shared entry aside is this person's own business: it stays on this
        // phone and changes nothing the partner sees.
        entry.check_author(me)?;
        let bytes = id.as_uuid().as_bytes().to_vec();
        if archived {
            self.conn.prepare_cached("INSERT OR IGNORE INTO set_aside (id) VALUES (?1)")?.execute([bytes])?;
        } else {
            self.conn.prepare_cached("DELETE FROM set_aside WHERE id = ?1")?.execute([bytes])?;
        }
        entry.archived = archived;
        Ok(entry)
    }

    /// Changes an entry where it lives. A change to a shared entry waits in the outbox
    /// until the partner is about to receive it; only then does it enter the shared
    /// document's history.
    fn update(
        &mut self,
        id: EntryId,
        change: impl FnOnce(&mut Entry) -> Result<(), ModelError>,
    ) -> Result<Entry, StoreError> {
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        let set_aside = entry.archived;
        let before = matches!(place, Place::Shared { .. }).then(|| entry.to_fields());
        change(&mut entry)?;
        let (now, _) = self.now();
        let waits = !matches!(place, Place::Private);
        match place {
            Place::Private => self.put_private(&entry)?,
            Place::Waiting { ready_at } => {
                // A staged fold holds the version this change replaces.
                let mut outgoing = entry.clone();
                outgoing.archived = false;
                self.change_waiting(|sql| rows::put_outbox(sql, &outgoing, ready_at))?;
                self.scrub();
            }
            Place::Shared { waiting } => {
                // Only what this change did waits, after any change that waits already.
                // Set-aside is kept on this phone and is never part of it.
                let made = Change::between(&before.unwrap_or_default(), &entry.to_fields());
                let replaces = waiting.is_some();
                let (change, ready_at) = match waiting {
                    Some((waiting, ready_at)) => (waiting.then(made), ready_at),
                    None => (made, now),
                };
                rows::put_outbox_change(&self.conn, id, ready_at, &change)?;
                if replaces {
                    self.scrub();
                }
            }
        }
        entry.archived = set_aside;
        entry.waiting = waits;
        Ok(entry)
    }

    /// Shares one of my entries with my partner. It waits on this phone until the
    /// partner's phone is about to receive it, and can be taken back without a trace
    /// until then. Sharing a shared entry does nothing.
    pub fn share(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        self.share_after(id, std::time::Duration::ZERO)
    }

    /// Like [`Store::share`], but the entry may not leave the phone before `undo` has
    /// passed: the app offers "Undo" for that long.
    pub fn share_after(&mut self, id: EntryId, undo: std::time::Duration) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        entry.check_author(me)?;
        if !matches!(place, Place::Private) {
            return Ok(entry);
        }
        let (now, _) = self.now();
        let ready_at = now + chrono::Duration::from_std(undo).unwrap_or_default();
        let set_aside = entry.archived;
        entry.archived = false;
        entry.shared = true;
        entry.shared_before = false;
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        rows::delete(&sql, Table::Private, id)?;
        rows::put_outbox(&sql, &entry, ready_at)?;
        if set_aside {
            sql.prepare_cached("INSERT OR IGNORE INTO set_aside (id) VALUES (?1)")?
                .execute([id.as_uuid().as_bytes().to_vec()])?;
        }
        sql.commit()?;
        entry.archived = set_aside;
        entry.waiting = true;
        Ok(entry)
    }

    /// Takes one of my entries back and keeps it private again. If it was not sent yet,
    /// it leaves no trace; if it was, the partner's phone keeps the copy it has.
    pub fn unshare(&mut self, id: EntryId) -> Result<Unshared, StoreError> {
        let me = self.require_me()?;
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        entry.check_author(me)?;
        entry.shared = false;
        entry.waiting = false;
        let bytes = id.as_uuid().as_bytes().to_vec();
        let partner_has_copy = match place {
            Place::Private => return Ok(Unshared { entry, partner_has_copy: false }),
            Place::Waiting { .. } => {
                // A staged fold holds it: taken back whole, so it leaves no trace.
                self.change_waiting(|sql| {
                    rows::delete(sql, Table::Outbox, id)?;
                    sql.prepare_cached("DELETE FROM set_aside WHERE id = ?1")?.execute([&bytes])?;
                    rows::put(sql, Table::Private, &entry)
                })?;
                false
            }
            Place::Shared { .. } => {
                let private = entry.clone();
                self.write_shared(
                    |tx, _| doc::delete_entry(tx, id),
                    |sql, ()| {
                        rows::delete(sql, Table::Outbox, id)?;
                        sql.prepare_cached("DELETE FROM set_aside WHERE id = ?1")?.execute([&bytes])?;
                        rows::put(sql, Table::Private, &private)
                    },
                )?;
                true
            }
        };
        self.scrub();
        Ok(Unshared { entry, partner_has_copy })
    }

    fn put_private(&mut self, entry: &Entry) -> Result<(), StoreError> {
        rows::put(&self.conn, Table::Private, entry)
    }

    /// How many shares and changes wait on this phone for the partner.
    pub fn waiting_count(&self) -> Result<usize, StoreError> {
        Ok(rows::count(&self.conn, Table::Outbox)? as usize)
    }

    /// When the next waiting share's undo ends, so the sync can wake up for it.
    pub fn next_ready(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        rows::outbox_next_ready(&self.conn)
    }

    /// Moves what waits in the outbox, and whose undo has ended, into the shared
    /// document, with this person's name: the sync session calls this just before it
    /// makes a message for the partner, so the document's history only ever holds what
    /// is about to be sent. Does nothing while this phone has no pairing
    /// (`start_couple`). A fold staged while the words were compared
    /// ([`Store::stage_outbox`]) is kept as it is. Returns the entries that went in: from
    /// now on they count as sent.
    pub fn fold_outbox(&mut self) -> Result<Vec<EntryId>, StoreError> {
        self.refresh()?;
        let mut folded = self.keep_staged()?;
        folded.extend(self.fold(Fold::Send)?);
        Ok(folded)
    }

    /// The entries `ids` as the journal lists them now, for a window to put in its lists;
    /// those no longer in the journal are said to be gone.
    pub fn listed(&mut self, ids: &[EntryId]) -> Result<Arrived, StoreError> {
        let mut listed = Arrived::default();
        for id in ids {
            match self.get(*id) {
                Ok(entry) => listed.entries.push(entry),
                Err(StoreError::NotFound(_)) => listed.gone.push(*id),
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    /// Folds what waits in the outbox into the shared document ahead of time, while the
    /// two people compare their safety words, so that sending can start the moment both
    /// say they match. Nothing leaves the phone: the shares also stay in the outbox, and
    /// the fold counts only once the document is about to be sent (a sync message made
    /// or received, [`Store::fold_outbox`]). Until then any change to a waiting share, its
    /// being kept private, or the pairing ending, takes the whole fold back
    /// ([`Store::unstage`]), so no version of a share that did not leave is ever in the
    /// history that does. Only a document that holds nothing yet is staged. Returns how
    /// many entries went in.
    pub fn stage_outbox(&mut self) -> Result<usize, StoreError> {
        self.refresh()?;
        if self.couple()?.is_none() || self.is_staged()? || self.doc.get_heads() != doc::genesis().get_heads() {
            return Ok(0);
        }
        Ok(self.fold(Fold::Stage)?.len())
    }

    /// Whether the shared document holds a fold that has not counted yet.
    pub fn is_staged(&self) -> Result<bool, StoreError> {
        Ok(get_meta(&self.conn, STAGED)?.is_some())
    }

    fn fold(&mut self, how: Fold) -> Result<Vec<EntryId>, StoreError> {
        let Some(me) = self.me.clone() else { return Ok(Vec::new()) };
        if self.couple()?.is_none() {
            return Ok(Vec::new());
        }
        let (now, _) = self.now();
        let name_known = self.name_in_doc.as_ref() == Some(&me)
            || doc::people(&self.doc)?.iter().any(|(id, name)| *id == me.id && *name == me.name);
        if name_known {
            self.name_in_doc = Some(me.clone());
        }
        if name_known && rows::outbox_next_ready(&self.conn)?.is_none_or(|at| at > now) {
            return Ok(Vec::new());
        }
        let folded = self.write_shared(
            |tx, sql| {
                // A pairing ended since the look above (by another connection): nothing
                // is staged for it.
                if matches!(how, Fold::Stage) && get_meta(sql, COUPLE)?.is_none() {
                    return Err(StoreError::PairingChanged);
                }
                if !name_known {
                    doc::write_person(tx, me.id, &me.name)?;
                }
                let ready = rows::outbox(sql, Some(now))?;
                for w in &ready {
                    match &w.what {
                        // A new share goes as it is.
                        Pending::Share(entry) => doc::write_entry(tx, entry)?,
                        // A change to a shared entry is made over what the document holds
                        // now, field by field, so what the partner added stays. A change
                        // to an entry its author has taken back since goes nowhere (a
                        // check-in on an agreement made private again).
                        Pending::Change(change) => {
                            if let Some(obj) = doc::find_entry(tx, w.id)? {
                                doc::write_change(tx, &obj, change)?;
                            }
                        }
                    }
                }
                Ok(ready.into_iter().map(|w| w.id).collect::<Vec<_>>())
            },
            |sql, ids| match how {
                Fold::Send => {
                    for id in ids {
                        rows::delete(sql, Table::Outbox, *id)?;
                    }
                    Ok(())
                }
                Fold::Stage => set_meta(sql, STAGED, "yes"),
            },
        )?;
        self.name_in_doc = Some(me);
        Ok(folded)
    }

    /// A staged fold counts from now: its shares leave the outbox, since the document
    /// holds them. While a fold is staged, an outbox row whose entry is in the document
    /// is one the fold took (every other change to the outbox takes the fold back).
    /// Returns the shares it held.
    fn keep_staged(&mut self) -> Result<Vec<EntryId>, StoreError> {
        if !self.is_staged()? {
            return Ok(Vec::new());
        }
        let Store { conn, doc, cursor, path, generation, .. } = self;
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, generation)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        if get_meta(&sql, STAGED)?.is_none() {
            return Ok(Vec::new());
        }
        let in_doc: HashSet<EntryId> = doc::entry_ids(doc)?.into_iter().map(|(id, _)| id).collect();
        let waiting = rows::ids(&sql, Table::Outbox)?;
        let taken: Vec<EntryId> = waiting.iter().filter(|id| in_doc.contains(id)).copied().collect();
        if taken.len() == waiting.len() {
            sql.execute("DELETE FROM outbox", [])?;
        } else {
            for id in &taken {
                rows::delete(&sql, Table::Outbox, *id)?;
            }
        }
        sql.execute("DELETE FROM meta WHERE key = ?1", [STAGED])?;
        sql.commit()?;
        Ok(taken)
    }

    /// Takes a staged fold back ([`Store::stage_outbox`]): the shared document holds
    /// nothing again, and the shares, which never left the outbox, wait there as before.
    pub fn unstage(&mut self) -> Result<(), StoreError> {
        if !self.is_staged()? {
            return Ok(());
        }
        self.change_waiting(|_| Ok(()))?;
        self.scrub();
        Ok(())
    }

    /// Changes what waits in the outbox where a staged fold may hold an older version of
    /// it: the fold is taken back in the same transaction, so the node can not stage the
    /// older version again in between, to be sent once both confirm.
    fn change_waiting(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let fresh = if get_meta(&sql, STAGED)?.is_some() {
            sql.execute("DELETE FROM meta WHERE key = ?1", [STAGED])?;
            Some(empty_document(&sql)?)
        } else {
            None
        };
        write(&sql)?;
        sql.commit()?;
        if let Some(fresh) = fresh {
            self.install(fresh);
        }
        Ok(())
    }

    /// Makes one change to the shared document and, in the same SQLite transaction, any
    /// local change that must go with it. On any failure the in-memory document is
    /// rebuilt from disk, so memory never holds what the file does not.
    fn write_shared<T>(
        &mut self,
        edit: impl FnOnce(&mut Transaction<'_>, &rusqlite::Transaction<'_>) -> Result<T, StoreError>,
        local: impl FnOnce(&rusqlite::Transaction<'_>, &T) -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        self.refresh()?;
        let Store { conn, doc, cursor, fail_at, path, generation, opened, .. } = self;
        let fail_at = *fail_at;
        let opened = opened.get_mut();
        let fail = |point: FailPoint| match fail_at {
            Some(p) if p == point => Err(StoreError::Injected(point)),
            _ => Ok(()),
        };
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, generation)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        let attempt = (|| {
            let heads = doc.get_heads();
            let mut tx = doc.transaction();
            let out = edit(&mut tx, &sql)?;
            tx.commit();
            fail(FailPoint::AfterDocChange)?;
            let new = doc.get_changes(&heads);
            let touched = Touched::by(doc, &new);
            chunks::append(&sql, &new, cursor)?;
            fail(FailPoint::AfterChunkWrite)?;
            local(&sql, &out)?;
            fail(FailPoint::AfterLocalWrite)?;
            if cursor.changes >= chunks::COMPACT_AT_THE_LATEST {
                chunks::compact(&sql, doc, cursor)?;
            }
            index::update(&sql, doc, &touched, &new, cursor.last_seq, opened)?;
            sql.commit()?;
            Ok(out)
        })();
        if attempt.is_err() {
            self.fail_at = None;
            self.reload()?;
        }
        attempt
    }

    /// Rebuilds the in-memory document from the file.
    fn reload(&mut self) -> Result<(), StoreError> {
        let actor = self.doc.get_actor().clone();
        let mut doc = Automerge::new();
        let mut cursor = ChunkCursor::default();
        self.generation = get_meta(&self.conn, GENERATION)?.unwrap_or_default();
        chunks::catch_up(&self.conn, &mut doc, &mut cursor).map_err(|e| e.at(&self.path))?;
        doc.set_actor(actor);
        self.doc = doc;
        self.cursor = cursor;
        self.held_back = 0;
        self.name_in_doc = None;
        Ok(())
    }

    /// Folds the change log into one snapshot if enough changes have piled up, and says
    /// whether it did. The sync session calls it after it has said "synced".
    pub fn compact_if_due(&mut self) -> Result<bool, StoreError> {
        self.refresh()?;
        if self.cursor.changes < chunks::COMPACT_AFTER {
            return Ok(false);
        }
        self.compact()?;
        Ok(true)
    }

    /// Folds the change log into one snapshot.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        self.refresh()?;
        let Store { conn, doc, cursor, path, generation, .. } = self;
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, generation)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        chunks::compact(&sql, doc, cursor)?;
        index::mark(&sql, cursor.last_seq)?;
        sql.commit()?;
        self.scrub();
        Ok(())
    }

    // ----- The shared document, whole -----

    /// The shared document's bytes, which any Automerge implementation can open. They
    /// are not compressed, so what they hold can be searched for as it is.
    pub fn document_bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        self.refresh()?;
        Ok(self.doc.save_nocompress())
    }

    /// The Automerge actor of this phone's changes, which its partner's phone learns at
    /// pairing.
    pub fn actor(&self) -> ActorId {
        self.doc.get_actor().clone()
    }

    /// The shared document's current heads.
    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// How many changes made on this phone or received here the peer behind `since` (the
    /// heads both sides last agreed on) does not have yet. The genesis never counts.
    pub fn changes_since(&self, since: &[automerge::ChangeHash]) -> Result<usize, StoreError> {
        // A staged fold's shares are counted where they still wait, in the outbox.
        if self.is_staged()? {
            return Ok(0);
        }
        let genesis = doc::genesis_actor();
        Ok(self.doc.get_changes(since).iter().filter(|c| c.actor_id() != &genesis).count())
    }

    /// The next sync message for a peer, if there is anything to say.
    pub fn sync_message(&mut self, peer: &mut sync::State) -> Result<Option<sync::Message>, StoreError> {
        self.refresh()?;
        // What is about to leave counts.
        self.keep_staged()?;
        Ok(self.doc.generate_sync_message(peer))
    }

    /// Takes a sync message from the partner and makes what it brought durable. Every
    /// change in it is checked against the rules first ([`rules::check_received`]): a
    /// message with one change that breaks them is refused whole, and the journal stays
    /// as it was. Says which entries (and whether names) the message changed, and how
    /// many changes it brought.
    pub fn receive_sync_message(
        &mut self,
        peer: &mut sync::State,
        message: sync::Message,
        partner: &PartnerRules,
    ) -> Result<Received, StoreError> {
        self.receive_sync_message_showing(peer, message, partner, None)
    }

    /// Does what [`Store::receive_sync_message`] does, and hands `show` what the message
    /// changed, as the journal lists it, the moment the message is applied and checked:
    /// the screen shows the entries while they are made durable. Should that fail, the
    /// journal is as it was and the session ends; nothing is reported as synced that is
    /// not durable. When the window must read for itself (the lists whole, or the names),
    /// `show` is called once the message is on disk.
    pub fn receive_sync_message_showing(
        &mut self,
        peer: &mut sync::State,
        message: sync::Message,
        partner: &PartnerRules,
        show: Option<&dyn Fn(Arrived)>,
    ) -> Result<Received, StoreError> {
        let me = self.require_me()?;
        self.refresh()?;
        // A staged fold stays: the sync has begun.
        self.keep_staged()?;
        let fail_at = self.fail_at.take_if(|p| *p == FailPoint::BeforeReceivedCommit);
        let Store { conn, doc, cursor, path, generation, held_back, opened, .. } = self;
        let opened = opened.get_mut();
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, generation)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        let mut shown_early = false;
        let attempt = (|| {
            // Compressed changes are measured inflated before Automerge inflates them.
            inflate::inflated_size(message.changes.iter(), MAX_INFLATED)
                .map_err(|inflate::TooBig(bytes)| StoreError::TooBig { bytes })?;
            // And the operations its columns declare are counted before any is built.
            inflate::declared_rows(message.changes.iter(), MAX_DECLARED_OPS)
                .map_err(|inflate::TooMany(rows)| StoreError::TooManyOps { rows })?;
            let size: usize = message.changes.iter().map(<[u8]>::len).sum();
            let heads = doc.get_heads();
            let whole = if is_whole_document(&message) {
                receive_whole(doc, peer, message)?
            } else {
                receive::receive(doc, peer, message)?;
                false
            };
            // Changes that wait for ones this phone lacks are kept only up to a bound.
            let nothing_waits = automerge::ReadDoc::get_missing_deps(doc, &[]).is_empty();
            let waiting = if nothing_waits { 0 } else { *held_back + size };
            if waiting > MAX_HELD_BACK {
                return Err(StoreError::HeldBack { bytes: waiting });
            }
            // A whole document is mostly new: its index rows are made on a second
            // thread while the rules check it.
            let (new, checked, prepared) = std::thread::scope(|scope| {
                let doc = &*doc;
                let prepared = whole.then(|| scope.spawn(|| index::prepare_all(doc)));
                let new = doc.get_changes(&heads);
                let checked = rules::check_received(doc, &heads, &new, me, partner);
                let prepared = prepared.map(|p| {
                    p.join().unwrap_or_else(|_| Err(StoreError::corrupt("the shared entries could not be read")))
                });
                (new, checked, prepared)
            });
            let touched = checked.map_err(StoreError::Refused)?;
            debug_assert_eq!(touched, Touched::by(doc, &new), "the rules place objects as the index does");
            // A few entries are read from the document once, for the screen and the index.
            let one_by_one = !touched.whole && touched.entries.len() <= READ_ONE_BY_ONE && prepared.is_none();
            let read = if one_by_one { Some(index::read_touched(&sql, doc, &touched, &new, opened)?) } else { None };
            // Entries go to the screen now; lists or names the window reads for itself,
            // once they are on disk.
            let mut after_commit = None;
            if let Some(show) = show
                && touched != Touched::default()
            {
                let arrived = arrived(&sql, &touched, read.as_deref())?;
                if arrived.whole || arrived.names {
                    after_commit = Some(arrived)
                } else {
                    show(arrived);
                    shown_early = true;
                }
            }
            chunks::append(&sql, &new, cursor)?;
            if cursor.changes >= chunks::COMPACT_AT_THE_LATEST {
                chunks::compact(&sql, doc, cursor)?;
            }
            match (prepared, read) {
                (Some(rows), _) => index::update_prepared(&sql, doc, &touched, rows?, cursor.last_seq)?,
                (None, Some(read)) => index::update_read(&sql, doc, &touched, read, cursor.last_seq, opened)?,
                (None, None) => index::update(&sql, doc, &touched, &new, cursor.last_seq, opened)?,
            }
            if let Some(point) = fail_at {
                return Err(StoreError::Injected(point));
            }
            sql.commit()?;
            *held_back = waiting;
            if let (Some(show), Some(arrived)) = (show, after_commit) {
                show(arrived);
            }
            Ok(Received { touched, changes: new.len() })
        })();
        if attempt.is_err() {
            self.reload()?;
            // What the window was shown did not reach the disk: it reads its lists again.
            if let (Some(show), true) = (show, shown_early) {
                show(Arrived { whole: true, names: true, ..Arrived::default() });
            }
        }
        attempt
    }

    // ----- Import -----

    /// Restores entries and the person from an export, into a journal that has no
    /// entries yet. Everything is checked first and written in one transaction.
    pub fn import(
        &mut self,
        person: Person,
        people: &[(PersonId, String)],
        entries: &[Entry],
    ) -> Result<(), StoreError> {
        self.refresh()?;
        let has_entries = rows::count(&self.conn, Table::Private)? > 0 || !doc::entry_ids(&self.doc)?.is_empty();
        if has_entries {
            return Err(StoreError::NotEmpty { path: self.path.clone() });
        }
        if let Some(me) = &self.me
            && me.id != person.id
        {
            return Err(StoreError::BadImport(format!(
                "this data directory belongs to {}, and the file to {}",
                me.name, person.name
            )));
        }
        for e in entries {
            e.validate().map_err(|err| StoreError::BadImport(format!("entry {}: {err}", e.id)))?;
        }
        // A restored journal has no pairing. My entries come back private (the shared
        // ones marked as shared before: sharing is chosen afresh with the next pairing),
        // and what the partner wrote is kept apart, read-only, as after unpairing.
        let (now, _) = self.now();
        let mine: Vec<Entry> = entries
            .iter()
            .filter(|e| e.author == person.id)
            .map(|e| Entry { shared: false, waiting: false, shared_before: e.shared || e.shared_before, ..e.clone() })
            .collect();
        let theirs: Vec<&Entry> = entries.iter().filter(|e| e.author != person.id).collect();
        let past = if theirs.is_empty() {
            None
        } else {
            let mut doc = doc::genesis().with_actor(ActorId::random());
            let mut tx = doc.transaction();
            for (id, name) in people {
                doc::write_person(&mut tx, *id, name)?;
            }
            for e in &theirs {
                doc::write_entry(&mut tx, e)?;
            }
            tx.commit();
            let partner = people.iter().find(|(id, _)| *id != person.id).map(|(_, n)| n.clone());
            Some((partner.unwrap_or_else(|| "your partner".to_owned()), doc.save_nocompress()))
        };
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_meta(&sql, "person_id", &person.id.to_string())?;
        set_meta(&sql, "person_name", &person.name)?;
        for e in &mine {
            rows::put(&sql, Table::Private, e)?;
        }
        if let Some((partner, bytes)) = past {
            put_past_document(&sql, &partner, now, &bytes)?;
        }
        sql.commit()?;
        self.me = Some(person);
        Ok(())
    }

    // ----- Pairings -----

    /// Bytes that change whenever one of `settings`, or the pairing's couple, is written
    /// (each is sealed with a fresh nonce on every write, so even the same words written
    /// again are new bytes). One statement, and nothing opened: for a caller that keeps
    /// what it read from them and would rather not read and open them again for nothing.
    pub fn settings_stamp(&self, settings: &[&str]) -> Result<Vec<u8>, StoreError> {
        let keys: Vec<String> =
            settings.iter().map(|s| setting_key(s)).chain(std::iter::once(COUPLE.to_owned())).collect();
        let marks = (1..=keys.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let mut stmt =
            self.conn.prepare_cached(&format!("SELECT key, value FROM meta WHERE key IN ({marks}) ORDER BY key"))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(keys.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            for i in 0..2 {
                let bytes = match row.get_ref(i)? {
                    rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b,
                    _ => &[],
                };
                out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                out.extend_from_slice(bytes);
            }
        }
        Ok(out)
    }

    /// The couple this phone's shared document belongs to, while paired.
    pub fn couple(&self) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, COUPLE)
    }

    /// Starts the shared document of a new pairing, identified by `couple`, which both
    /// phones learned while pairing. Nothing of an earlier pairing's document is in it:
    /// if one is still here, it is set apart first as after unpairing.
    pub fn start_couple(&mut self, couple: &str, earlier_partner: &str) -> Result<(), StoreError> {
        self.refresh()?;
        if self.couple()?.as_deref() == Some(couple) {
            return Ok(());
        }
        if self.doc.get_heads() != doc::genesis().get_heads() || self.couple()?.is_some() {
            self.end_couple(earlier_partner)?;
        }
        set_meta(&self.conn, COUPLE, couple)
    }

    /// Forgets a pairing that was never confirmed: nothing was exchanged, so the shared
    /// document is still empty and shares keep waiting for the next pairing. If
    /// anything was exchanged after all, it is set apart as after unpairing.
    pub fn cancel_couple(&mut self, partner: &str) -> Result<(), StoreError> {
        self.refresh()?;
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, &self.generation)?;
        chunks::catch_up(&sql, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        // A staged fold is taken back in the same transaction that forgets the couple, so
        // nothing can stage the shares again for a pairing that is ending.
        let staged = get_meta(&sql, STAGED)?.is_some();
        if !staged && self.doc.get_heads() != doc::genesis().get_heads() {
            drop(sql);
            return self.end_couple(partner);
        }
        sql.execute("DELETE FROM meta WHERE key = ?1", [COUPLE])?;
        let fresh = if staged {
            sql.execute("DELETE FROM meta WHERE key = ?1", [STAGED])?;
            Some(empty_document(&sql)?)
        } else {
            None
        };
        sql.commit()?;
        if let Some(fresh) = fresh {
            self.install(fresh);
            self.scrub();
        }
        Ok(())
    }

    /// Ends this phone's side of a pairing. The shared document is kept apart, read-only
    /// ([`Store::past_documents`]); the entries I wrote in it become private again,
    /// marked as shared before; shares still waiting go back to private; and the next
    /// pairing starts from an empty document. The partner's phone is not told.
    pub fn end_couple(&mut self, partner: &str) -> Result<(), StoreError> {
        self.retire_document(Some(partner))
    }

    /// Sets the current shared document aside (as a past document named after
    /// `partner`, or, with `None`, dropped because nobody ever received it) and starts an
    /// empty one. My entries in it come back to me: private and marked as shared before
    /// when it is kept, waiting to be shared again when it is dropped.
    fn retire_document(&mut self, partner: Option<&str>) -> Result<(), StoreError> {
        self.refresh()?;
        let me = self.me.as_ref().map(|p| p.id);
        let (now, _) = self.now();
        let sql = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        same_document(&sql, &self.generation)?;
        chunks::catch_up(&sql, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        // A staged fold never left: its shares are still waiting, not in the document. It
        // is taken back in this transaction (the document is started afresh below), so
        // nothing stages the shares again before the couple is forgotten.
        let staged = get_meta(&sql, STAGED)?.is_some();
        sql.execute("DELETE FROM meta WHERE key = ?1", [STAGED])?;
        let mut waiting: HashMap<EntryId, Waiting> = rows::outbox(&sql, None)?.into_iter().map(|w| (w.id, w)).collect();
        let set_aside = set_aside_ids(&sql)?;
        let has_content = !staged && self.doc.get_heads() != doc::genesis().get_heads();
        if has_content {
            for (id, obj) in doc::entry_ids(&self.doc)? {
                let Ok(sent) = doc::read_entry(&self.doc, id, &obj) else { continue };
                if Some(sent.author) != me {
                    continue;
                }
                let mut entry = overlay_waiting(sent, waiting.remove(&id))?;
                entry.archived = set_aside.contains(&id);
                entry.waiting = false;
                match partner {
                    Some(_) => {
                        entry.shared = false;
                        entry.shared_before = true;
                        rows::put(&sql, Table::Private, &entry)?;
                    }
                    None => {
                        entry.shared = true;
                        entry.archived = false;
                        rows::put_outbox(&sql, &entry, now)?;
                    }
                }
            }
            if let Some(partner) = partner {
                put_past_document(&sql, partner, now, &self.doc.save_nocompress())?;
            }
        }
        if partner.is_some() {
            // Shares that never left go back to private: sharing is chosen afresh. A change
            // to the partner's entry goes with the document it was for.
            for (id, w) in waiting {
                let Pending::Share(mut entry) = w.what else { continue };
                entry.shared = false;
                entry.waiting = false;
                entry.archived = set_aside.contains(&id);
                rows::put(&sql, Table::Private, &entry)?;
            }
            sql.execute("DELETE FROM outbox", [])?;
            sql.execute("DELETE FROM set_aside", [])?;
        }
        sql.execute("DELETE FROM meta WHERE key = ?1", [COUPLE])?;
        let fresh = empty_document(&sql)?;
        sql.commit()?;
        self.install(fresh);
        self.scrub();
        Ok(())
    }

    /// Makes `fresh` (from [`empty_document`], committed) the document in memory.
    fn install(&mut self, fresh: Fresh) {
        let Fresh { mut doc, cursor, generation } = fresh;
        doc.set_actor(self.doc.get_actor().clone());
        self.doc = doc;
        self.cursor = cursor;
        self.generation = generation;
        self.held_back = 0;
        self.name_in_doc = None;
    }

    /// The documents of pairings that have ended, newest first.
    pub fn past_documents(&self) -> Result<Vec<PastDocument>, StoreError> {
        #[derive(serde::Deserialize)]
        struct About {
            partner: String,
            ended_at: i64,
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, unseal('past_documents.about', id, about) FROM past_documents ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, about) = row?;
            let about: About = serde_json::from_slice(&about).map_err(|e| {
                StoreError::corrupt(format!("past pairing {id} has an unreadable description ({e})")).at(&self.path)
            })?;
            out.push(PastDocument {
                id,
                partner: about.partner,
                ended_at: DateTime::from_timestamp_nanos(about.ended_at),
            });
        }
        Ok(out)
    }

    /// A past pairing's document as any Automerge implementation reads it.
    pub fn past_document_bytes(&self, id: i64) -> Result<Vec<u8>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT unseal('past_documents', id, bytes) FROM past_documents WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        bytes.ok_or(StoreError::NoPastDocument(id))
    }

    /// What the partner wrote in a past pairing's document, newest first. (What I wrote
    /// in it is back among my private entries.)
    pub fn past_entries(&self, id: i64) -> Result<Vec<Entry>, StoreError> {
        let bytes = self.past_document_bytes(id)?;
        let past = Automerge::load(&bytes)
            .map_err(|e| StoreError::corrupt(format!("past pairing {id} can't be read ({e})")).at(&self.path))?;
        let me = self.me.as_ref().map(|p| p.id);
        let mut out = Vec::new();
        for (entry_id, obj) in doc::entry_ids(&past)? {
            if let Ok(e) = doc::read_entry(&past, entry_id, &obj)
                && Some(e.author) != me
            {
                out.push(e);
            }
        }
        sort_newest_first(&mut out);
        Ok(out)
    }

    /// Deletes a past pairing's document for good. Its text is overwritten in the file,
    /// not only unlinked.
    pub fn delete_past_document(&mut self, id: i64) -> Result<(), StoreError> {
        let deleted = self.conn.execute("DELETE FROM past_documents WHERE id = ?1", [id])?;
        if deleted == 0 {
            return Err(StoreError::NoPastDocument(id));
        }
        self.scrub();
        Ok(())
    }

    /// Moves everything in the write-ahead log into the file and empties the log, so
    /// that text just deleted (with `secure_delete`, overwritten in the file's pages) is
    /// not left in an older copy of a page in the log. If another connection is reading
    /// at that moment, the log is emptied at a later write instead; nothing is lost.
    fn scrub(&self) {
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

const COUPLE: &str = "couple";
/// Set while the shared document holds a staged fold ([`Store::stage_outbox`]).
const STAGED: &str = "staged";
const UPGRADE_DOCUMENT: &str = "upgrade_document";
const GENERATION: &str = "document_generation";

/// Past this many entries in one message (a first sync), what arrived is not read one by
/// one: the window reads its lists whole, which is cheaper.
const READ_ONE_BY_ONE: usize = 100;

/// What a received message changed, as this phone now lists it (a waiting edit of mine
/// laid over, set aside or not): for the window, which puts it in its lists without
/// reading the journal whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrived {
    pub entries: Vec<Entry>,
    /// Entries no longer in the journal (the partner unshared them).
    pub gone: Vec<EntryId>,
    /// A name changed.
    pub names: bool,
    /// Too much changed to say entry by entry, or some change could not be placed: read
    /// the lists whole.
    pub whole: bool,
}

/// What a sync message from the partner brought, once durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The entries (and whether names) it changed.
    pub touched: Touched,
    /// How many changes it brought: only the partner's, never the genesis.
    pub changes: usize,
}

/// Whether a sync message carries the partner's whole document (Automerge sends one, as
/// a single document chunk, when the partner lacks more than a third of it).
fn is_whole_document(message: &sync::Message) -> bool {
    // A chunk starts with 4 magic bytes and a 4-byte checksum; then its type, 0 for a
    // document.
    let mut chunks = message.changes.iter();
    matches!((chunks.next(), chunks.next()), (Some(chunk), None) if chunk.get(8) == Some(&0))
}

/// Takes the partner's whole document: into an empty document, which Automerge loads in
/// one pass instead of replaying each of its changes against this phone's, and then this
/// phone's own changes that it lacks (at a new pairing, the genesis and the shares made
/// ready while the words were compared), when they are fewer. The result holds the same
/// changes the usual way would give. What arrived must hold the genesis and the result lack nothing; otherwise
/// (a document from elsewhere) it is taken the usual way, which the rules then judge.
/// Says whether it was loaded whole.
fn receive_whole(doc: &mut Automerge, peer: &mut sync::State, message: sync::Message) -> Result<bool, StoreError> {
    let genesis = doc::genesis().get_heads();
    let mut whole = Automerge::new().with_actor(doc.get_actor().clone());
    let mut state = peer.clone();
    let loaded = whole.receive_sync_message(&mut state, message.clone()).is_ok()
        // This phone's changes are replayed onto the loaded document only when they are
        // the smaller part (the partner's whole document may be all but empty).
        && automerge::ReadDoc::stats(&whole).num_ops >= automerge::ReadDoc::stats(doc).num_ops
        && genesis.iter().all(|h| automerge::ReadDoc::get_change_by_hash(&whole, h).is_some())
        && whole.apply_changes(doc.get_changes(&genesis)).is_ok()
        && automerge::ReadDoc::get_missing_deps(&whole, &[]).is_empty();
    if loaded {
        *doc = whole;
        *peer = state;
        return Ok(true);
    }
    receive::receive(doc, peer, message)?;
    Ok(false)
}

/// A shared document holding only the genesis, just written to the file in place of the
/// one there, under a new generation.
struct Fresh {
    doc: Automerge,
    cursor: ChunkCursor,
    generation: String,
}

/// Replaces the file's shared document (its change log and index) with one that holds
/// only the genesis. The caller commits `sql`, then installs the result.
fn empty_document(sql: &Connection) -> Result<Fresh, StoreError> {
    sql.execute("DELETE FROM doc_chunks", [])?;
    let generation = uuid::Uuid::now_v7().to_string();
    set_meta(sql, GENERATION, &generation)?;
    let doc = doc::genesis();
    let mut cursor = ChunkCursor::default();
    chunks::append(sql, &doc.get_changes(&[]), &mut cursor)?;
    index::rebuild(sql, &doc, cursor.last_seq)?;
    Ok(Fresh { doc, cursor, generation })
}

/// What a fold of the outbox is for.
#[derive(Clone, Copy)]
enum Fold {
    /// To be sent now: the shares leave the outbox.
    Send,
    /// Ahead of time: the shares stay in the outbox until the fold counts.
    Stage,
}

/// Fails when another process on this phone ended the pairing since this one loaded the
/// shared document, so nothing of the old document is written into the new one.
fn same_document(sql: &Connection, generation: &str) -> Result<(), StoreError> {
    if get_meta(sql, GENERATION)?.unwrap_or_default() == generation { Ok(()) } else { Err(StoreError::PairingChanged) }
}

fn put_past_document(sql: &Connection, partner: &str, at: DateTime<Utc>, bytes: &[u8]) -> Result<(), StoreError> {
    // Sealed with its own number, as AUTOINCREMENT would give it.
    let last: Option<i64> = sql
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'past_documents'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let id = last.unwrap_or(0) + 1;
    let about = serde_json::json!({ "partner": partner, "ended_at": at.timestamp_nanos_opt().unwrap_or(i64::MAX) });
    sql.prepare_cached(
        "INSERT INTO past_documents (id, about, bytes) \
         VALUES (?1, seal('past_documents.about', ?1, ?2), seal('past_documents', ?1, ?3))",
    )?
    .execute(rusqlite::params![id, about.to_string(), bytes])?;
    Ok(())
}

fn is_set_aside(conn: &Connection, id: EntryId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM set_aside WHERE id = ?1")?
        .query_row([id.as_uuid().as_bytes().to_vec()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn set_aside_ids(conn: &Connection) -> Result<HashSet<EntryId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM set_aside")?;
    let mut rows = stmt.query([])?;
    let mut out = HashSet::new();
    while let Some(row) = rows.next()? {
        if let Ok(id) = uuid::Uuid::from_slice(row.get_ref(0)?.as_blob()?) {
            out.insert(EntryId::from_uuid(id));
        }
    }
    Ok(out)
}

/// Where entry `id` lives and how the journal lists it, `None` when it is nowhere: private,
/// waiting in the outbox, or in the shared document (`in_doc`, read only when it is not
/// private) with any waiting change of mine laid over. `staged` says whether a fold is
/// staged, asked only when it matters.
fn place(
    conn: &Connection,
    id: EntryId,
    in_doc: impl FnOnce() -> Result<Option<Entry>, StoreError>,
    staged: impl FnOnce() -> Result<bool, StoreError>,
) -> Result<Option<(Entry, Place)>, StoreError> {
    if let Some(e) = rows::get(conn, Table::Private, id)? {
        return Ok(Some((e, Place::Private)));
    }
    let waiting = rows::outbox_entry(conn, id)?;
    let in_doc = in_doc()?;
    let set_aside = is_set_aside(conn, id)?;
    // A new share that a staged fold holds too is still only waiting.
    let in_doc = match (&waiting, in_doc) {
        (Some(Waiting { what: Pending::Share(_), .. }), Some(_)) if staged()? => None,
        (_, in_doc) => in_doc,
    };
    let (mut entry, place) = match (waiting, in_doc) {
        (None, None) => return Ok(None),
        (Some(Waiting { what: Pending::Share(entry), ready_at, .. }), None) => (entry, Place::Waiting { ready_at }),
        // A change to an entry the document no longer holds shows nowhere.
        (Some(Waiting { what: Pending::Change(_), .. }), None) => return Ok(None),
        (None, Some(sent)) => (sent, Place::Shared { waiting: None }),
        (Some(w), Some(sent)) => match w.what {
            // A new share the document holds too (a staged fold): a change of it waits
            // as long as the share would have.
            Pending::Share(entry) => (entry, Place::Shared { waiting: Some((Change::default(), w.ready_at)) }),
            Pending::Change(change) => {
                let entry = overlay(sent, Some(&change))?;
                (entry, Place::Shared { waiting: Some((change, w.ready_at)) })
            }
        },
    };
    entry.archived = set_aside;
    Ok(Some((entry, place)))
}

/// What a received message changed, as the journal lists each entry (`place`, read in the
/// receiving transaction from the entries as the document now holds them).
fn arrived(
    sql: &Connection,
    touched: &Touched,
    read: Option<&[(EntryId, index::InDoc)]>,
) -> Result<Arrived, StoreError> {
    let mut arrived = Arrived { names: touched.people, ..Arrived::default() };
    let Some(read) = read else {
        arrived.whole = true;
        return Ok(arrived);
    };
    for (id, in_doc) in read {
        let in_doc = match in_doc {
            // An entry that can't be read shows as the store lists it: not at all.
            index::InDoc::Unreadable => {
                arrived.gone.push(*id);
                continue;
            }
            index::InDoc::Entry(entry, _) => Some(entry.clone()),
            index::InDoc::Absent => None,
        };
        match place(sql, *id, || Ok(in_doc), || Ok(get_meta(sql, STAGED)?.is_some()))? {
            Some((entry, _)) => arrived.entries.push(entry),
            None => arrived.gone.push(*id),
        }
    }
    Ok(arrived)
}

/// A shared entry as this person sees it: as the partner last received it, with any
/// change of mine that waits in the outbox on top.
fn overlay(sent: Entry, waiting: Option<&Change>) -> Result<Entry, StoreError> {
    let Some(change) = waiting else { return Ok(sent) };
    let mut entry = Entry::from_fields_lenient(sent.id, true, change.apply(&sent.to_fields()))?;
    entry.waiting = true;
    Ok(entry)
}

/// A waiting row laid over the shared entry it is about, as [`place`] does.
fn overlay_waiting(sent: Entry, waiting: Option<Waiting>) -> Result<Entry, StoreError> {
    match waiting.map(|w| w.what) {
        None => Ok(sent),
        Some(Pending::Share(entry)) => Ok(entry),
        Some(Pending::Change(change)) => overlay(sent, Some(&change)),
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    crate::vault::make_private_dir(dir).map_err(|e| match e {
        crate::vault::VaultError::Io { source, .. } => StoreError::DataDir { path: dir.to_owned(), source },
        other => StoreError::DataDir { path: dir.to_owned(), source: std::io::Error::other(other.to_string()) },
    })
}

/// Creates the journal file, readable by this user alone, before SQLite opens it (SQLite
/// gives its log files the journal file's permissions).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match crate::vault::write_new_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes the journal and its log files this user's alone, whatever made them.
fn keep_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            if let Ok(meta) = fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = fs::set_permissions(&file, fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

thread_local! {
    /// How many statements this thread's connections to a journal have run.
    static STATEMENTS_RUN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many SQL statements the journal connections used on this thread have run so far.
/// A screen's tests compare it before and after a person types, to prove that typing
/// reads nothing from the journal. Counting is one add per statement.
pub fn statements_run_here() -> u64 {
    STATEMENTS_RUN.with(std::cell::Cell::get)
}

fn count_statement(_: rusqlite::trace::TraceEvent<'_>) {
    STATEMENTS_RUN.with(|n| n.set(n.get() + 1));
}

fn set_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.trace_v2(rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT, Some(count_statement));
    // A durable edit is one that survives a crash or power loss the moment its call
    // returns: WAL with full sync.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Deleted text is overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

/// Checks that the key opens this journal before anything else is read or written.
fn check_key(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([KEY_CHECK], |r| r.get(0))
        .optional()?;
    match found {
        None => Err(StoreError::corrupt("it has no key check: it is damaged, or not Steady's").at(path)),
        Some(_) => match get_meta(conn, KEY_CHECK) {
            Ok(_) => Ok(()),
            Err(StoreError::Sealed) => Err(StoreError::WrongKey { path: path.to_owned() }),
            Err(other) => Err(other),
        },
    }
}

/// Checks that an existing file looks like a whole SQLite database, without writing to it.
/// Returns whether the file holds any data.
fn check_file(path: &Path) -> Result<bool, StoreError> {
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        // SQLite writes nothing until the first transaction: an empty file is a journal
        // whose first start was cut short, and holds nothing to protect.
        return Ok(false);
    }
    let mut header = [0u8; 100];
    let read = file.read(&mut header)?;
    let damaged = |what: &str| Err(StoreError::corrupt(what).at(path));
    if read < 100 && header[..read.min(16)] == SQLITE_HEADER[..read.min(16)] {
        return damaged(&format!("it is cut short: only {len} bytes"));
    }
    if read < 100 || &header[..16] != SQLITE_HEADER {
        return damaged("it is not a Steady data file (no SQLite header), or its start was overwritten");
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([header[28], header[29], header[30], header[31]]));
    let counter_valid = header[24..28] == header[92..96];
    if counter_valid && page_size * pages > len {
        return damaged(&format!("it is cut short: {len} bytes, where its header says {} bytes", page_size * pages));
    }
    Ok(true)
}

/// Turns SQLite's words for a damaged file into ours; leaves other errors as they are.
fn damage_or(e: rusqlite::Error, path: &Path) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt) | Some(NotADatabase) => StoreError::corrupt(format!("SQLite reports: {e}")).at(path),
        _ => StoreError::Sqlite(e),
    }
}

fn ensure_actor(conn: &Connection) -> Result<ActorId, StoreError> {
    if let Some(hex) = get_meta(conn, "actor")? {
        return ActorId::try_from(hex.as_str())
            .map_err(|_| StoreError::corrupt(format!("the device id {hex:?} is unreadable")));
    }
    let actor = ActorId::random();
    set_meta(conn, "actor", &actor.to_hex_string())?;
    Ok(actor)
}

/// Settings kept in the clear: the index's sequence number, the random id of the
/// current shared document, and a flag of the migrations. Every other value in `meta` is
/// sealed.
const PLAIN_META: [&str; 4] = ["index_seq", GENERATION, UPGRADE_DOCUMENT, STAGED];
/// A sealed value whose only use is to tell whether a key is this journal's.
const KEY_CHECK: &str = "key_check";

/// Where the app's setting `key` is kept among the journal's other values.
fn setting_key(key: &str) -> String {
    format!("setting.{key}")
}

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    if PLAIN_META.contains(&key) {
        return Ok(conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?);
    }
    let value: Option<Vec<u8>> = conn
        .prepare_cached("SELECT unseal('meta', key, value) FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    value
        .map(|v| String::from_utf8(v).map_err(|_| StoreError::corrupt(format!("the setting {key:?} is unreadable"))))
        .transpose()
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    let sql = if PLAIN_META.contains(&key) {
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    } else {
        "INSERT INTO meta (key, value) VALUES (?1, seal('meta', ?1, ?2)) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    };
    conn.prepare_cached(sql)?.execute([key, value])?;
    Ok(())
}

fn read_me(conn: &Connection) -> Result<Option<Person>, StoreError> {
    let (Some(id), Some(name)) = (get_meta(conn, "person_id")?, get_meta(conn, "person_name")?) else {
        return Ok(None);
    };
    let id = id.parse().map_err(|_| StoreError::corrupt(format!("the person id {id:?} is unreadable")))?;
    Ok(Some(Person { id, name }))
}

/// Every entry, private and shared, newest first, read from SQLite alone.
fn list(conn: &Connection, key: &DataKey) -> Result<Vec<Entry>, StoreError> {
    let mut out = rows::all(conn, key, Table::Private)?;
    let set_aside = set_aside_ids(conn)?;
    let mut waiting: HashMap<EntryId, Waiting> = rows::outbox(conn, None)?.into_iter().map(|w| (w.id, w)).collect();
    for sent in rows::all(conn, key, Table::SharedIndex)? {
        let pending = waiting.remove(&sent.id);
        let mut entry = overlay_waiting(sent, pending)?;
        entry.archived = set_aside.contains(&entry.id);
        out.push(entry);
    }
    // What is left are new shares, and changes to entries the index does not list.
    for (id, w) in waiting {
        let Pending::Share(mut entry) = w.what else { continue };
        entry.archived = set_aside.contains(&id);
        out.push(entry);
    }
    sort_newest_first(&mut out);
    Ok(out)
}

/// The order every list starts from.
fn sort_newest_first(entries: &mut [Entry]) {
    entries.sort_by(Entry::newest_first);
}

#[cfg(test)]
mod tests;
