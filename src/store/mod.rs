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
mod rows;
mod schema;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transaction;
use automerge::{ActorId, Automerge, PatchLog};
use chrono::{DateTime, Local, NaiveDate, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::model::{AgreementStatus, CheckIn, Draft, Entry, EntryId, ModelError, Outcome, Person, PersonId};

use chunks::ChunkCursor;
pub use error::StoreError;
use rows::Table;

/// The data file's name inside the data directory.
pub const DB_FILE: &str = "steady.sqlite3";

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
}

/// A source of the current time. Tests pin it; the app uses the phone's clock.
pub type Clock = Box<dyn Fn() -> DateTime<Utc> + Send>;

/// The journal of the person on this phone.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    doc: Automerge,
    cursor: ChunkCursor,
    me: Option<Person>,
    clock: Clock,
    fail_at: Option<FailPoint>,
}

/// Where an entry lives.
enum Place {
    Private,
    Shared,
}

const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Opens the journal in `dir`, creating the directory and the file on first use.
    pub fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        make_dir(dir)?;
        Store::open(&dir.join(DB_FILE))
    }

    /// Opens the journal file at `path`. A damaged file is reported and left unchanged.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_then(path, |_| Ok(())).map(|(store, ())| store)
    }

    /// Opens the journal in `dir` and lists every entry, as the app does at launch. The
    /// private entries are read while the shared document loads on another core.
    pub fn open_dir_with_entries(dir: &Path) -> Result<(Store, Vec<Entry>), StoreError> {
        make_dir(dir)?;
        let (store, listed) = Store::open_then(&dir.join(DB_FILE), |conn| {
            // The index is only trusted when it reflects every chunk row; otherwise setup
            // rebuilds it from the document and the list is read afresh below.
            if index::is_current(conn)? { list(conn).map(Some) } else { Ok(None) }
        })?;
        let entries = match listed {
            Some(entries) => entries,
            None => list(&store.conn)?,
        };
        Ok((store, entries))
    }

    /// Opens `path`, running `meanwhile` on the file's connection while the shared
    /// document loads. `meanwhile` only runs on a journal that has its tables.
    fn open_then<T: Default>(
        path: &Path,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        let has_data = check_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| damage_or(e, path))?;
        Store::setup(conn, path.to_owned(), has_data, meanwhile).map_err(|e| match e {
            StoreError::Sqlite(e) => damage_or(e, path),
            other => other.at(path),
        })
    }

    /// A journal that lives only in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        Store::setup(Connection::open_in_memory()?, PathBuf::from(":memory:"), false, |_| Ok(())).map(|(s, ())| s)
    }

    fn setup<T: Default>(
        mut conn: Connection,
        path: PathBuf,
        has_data: bool,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Reads first: a damaged or foreign file must fail here, before anything is written.
        let version = schema::version(&conn)?;
        if version > schema::CURRENT {
            return Err(StoreError::TooNew { path, found: version, supported: schema::CURRENT });
        }
        if version == 0 && has_data {
            let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(StoreError::corrupt("it is an SQLite file, but not one of Steady's"));
            }
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
                let other = meanwhile(&conn);
                let loaded = loading
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::corrupt("the shared document could not be loaded")));
                (loaded, other)
            });
            (doc, cursor) = loaded?;
            extra = other?;
        }
        // A durable edit is one that survives a crash or power loss the moment its call
        // returns: WAL with full sync.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        if version < schema::CURRENT {
            schema::migrate(&mut conn, version)?;
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
            let tx = conn.transaction()?;
            index::rebuild(&tx, &doc, cursor.last_seq)?;
            tx.commit()?;
        }
        doc.set_actor(actor);
        let me = read_me(&conn)?;
        Ok((Store { conn, path, doc, cursor, me, clock: Box::new(Utc::now), fail_at: None }, extra))
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
        let meta = person.clone();
        self.write_shared(
            |tx| doc::write_person(tx, meta.id, &meta.name),
            |sql| {
                set_meta(sql, "person_id", &meta.id.to_string())?;
                set_meta(sql, "person_name", &meta.name)
            },
        )?;
        self.me = Some(person.clone());
        Ok(person)
    }

    /// A setting of this phone's app (never shared), if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, &format!("setting.{key}"))
    }

    /// Remembers a setting of this phone's app. It stays on this phone.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        set_meta(&self.conn, &format!("setting.{key}"), value)
    }

    /// Forgets a setting of this phone's app.
    pub fn remove_setting(&mut self, key: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", [format!("setting.{key}")])?;
        Ok(())
    }

    /// A number that changes whenever another connection to this file (the window, or
    /// the command line) commits. Cheap enough to ask many times a second.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        Ok(self.conn.query_row("PRAGMA data_version", [], |row| row.get(0))?)
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
        list(&self.conn)
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

    fn private_entry(&self, id: EntryId) -> Result<Option<Entry>, StoreError> {
        rows::get(&self.conn, Table::Private, id)
    }

    fn locate(&self, id: EntryId) -> Result<(Entry, Place), StoreError> {
        if let Some(e) = self.private_entry(id)? {
            return Ok((e, Place::Private));
        }
        match doc::find_entry(&self.doc, id)? {
            Some(obj) => Ok((doc::read_entry(&self.doc, id, &obj)?, Place::Shared)),
            None => Err(StoreError::NotFound(id)),
        }
    }

    /// Checks that the index of shared entries says exactly what the document says, for
    /// tests.
    #[doc(hidden)]
    pub fn verify_index(&mut self) -> Result<(), String> {
        self.refresh().map_err(|e| e.to_string())?;
        let from_index: Vec<Entry> =
            list(&self.conn).map_err(|e| e.to_string())?.into_iter().filter(|e| e.shared).collect();
        let mut from_doc = Vec::new();
        for (id, obj) in doc::entry_ids(&self.doc).map_err(|e| e.to_string())? {
            if let Ok(e) = doc::read_entry(&self.doc, id, &obj) {
                from_doc.push(e);
            }
        }
        sort_newest_first(&mut from_doc);
        if from_index == from_doc { Ok(()) } else { Err(format!("index {from_index:#?}\ndocument {from_doc:#?}")) }
    }

    /// Picks up what another process on this phone wrote since we last looked.
    fn refresh(&mut self) -> Result<(), StoreError> {
        chunks::catch_up(&self.conn, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        self.me = read_me(&self.conn)?;
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
        self.update(id, |e| e.set_archived(archived, me, now))
    }

    /// Changes an entry where it lives.
    fn update(
        &mut self,
        id: EntryId,
        change: impl FnOnce(&mut Entry) -> Result<(), ModelError>,
    ) -> Result<Entry, StoreError> {
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        change(&mut entry)?;
        match place {
            Place::Private => self.put_private(&entry)?,
            Place::Shared => {
                let written = entry.clone();
                self.write_shared(|tx| doc::write_entry(tx, &written), |_| Ok(()))?;
            }
        }
        Ok(entry)
    }

    /// Shares one of my entries with my partner: moves it from the private table into the
    /// shared document, in one transaction. Sharing a shared entry does nothing.
    pub fn share(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        entry.check_author(me)?;
        if let Place::Shared = place {
            return Ok(entry);
        }
        entry.shared = true;
        let written = entry.clone();
        self.write_shared(|tx| doc::write_entry(tx, &written), |sql| rows::delete(sql, Table::Private, id))?;
        Ok(entry)
    }

    /// Takes one of my entries back out of the shared document and keeps it private again.
    /// A partner's phone that already synced it keeps the copy it has.
    pub fn unshare(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        self.refresh()?;
        let (mut entry, place) = self.locate(id)?;
        entry.check_author(me)?;
        if let Place::Private = place {
            return Ok(entry);
        }
        entry.shared = false;
        let private = entry.clone();
        self.write_shared(|tx| doc::delete_entry(tx, id), |sql| rows::put(sql, Table::Private, &private))?;
        Ok(entry)
    }

    fn put_private(&mut self, entry: &Entry) -> Result<(), StoreError> {
        rows::put(&self.conn, Table::Private, entry)
    }

    /// Makes one change to the shared document and, in the same SQLite transaction, any
    /// local change that must go with it. On any failure the in-memory document is
    /// rebuilt from disk, so memory never holds what the file does not.
    fn write_shared<T>(
        &mut self,
        edit: impl FnOnce(&mut Transaction<'_>) -> Result<T, StoreError>,
        local: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<(), StoreError>,
    ) -> Result<T, StoreError> {
        let Store { conn, doc, cursor, fail_at, path, .. } = self;
        let fail_at = *fail_at;
        let fail = |point: FailPoint| match fail_at {
            Some(p) if p == point => Err(StoreError::Injected(point)),
            _ => Ok(()),
        };
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        let attempt = (|| {
            let heads = doc.get_heads();
            let mut tx = doc
                .transaction_log_patches(PatchLog::active())
                .map_err(|_| StoreError::corrupt("a change could not be recorded"))?;
            let out = edit(&mut tx)?;
            let (_, mut log) = tx.commit();
            let patches = doc.make_patches(&mut log);
            fail(FailPoint::AfterDocChange)?;
            chunks::append(&sql, &doc.get_changes(&heads), cursor)?;
            fail(FailPoint::AfterChunkWrite)?;
            local(&sql)?;
            fail(FailPoint::AfterLocalWrite)?;
            if cursor.changes >= chunks::COMPACT_AFTER {
                chunks::compact(&sql, doc, cursor)?;
            }
            index::update(&sql, doc, &patches, cursor.last_seq)?;
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
        chunks::catch_up(&self.conn, &mut doc, &mut cursor).map_err(|e| e.at(&self.path))?;
        doc.set_actor(actor);
        self.doc = doc;
        self.cursor = cursor;
        Ok(())
    }

    /// Folds the change log into one snapshot.
    pub fn compact(&mut self) -> Result<(), StoreError> {
        let Store { conn, doc, cursor, path, .. } = self;
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        chunks::compact(&sql, doc, cursor)?;
        index::mark(&sql, cursor.last_seq)?;
        sql.commit()?;
        Ok(())
    }

    // ----- The shared document, whole -----

    /// The shared document's bytes, which any Automerge implementation can open.
    pub fn document_bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        self.refresh()?;
        Ok(self.doc.save())
    }

    /// The shared document's current heads.
    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// How many changes made on this phone or received here the peer behind `since` (the
    /// heads both sides last agreed on) does not have yet. The genesis never counts.
    pub fn changes_since(&self, since: &[automerge::ChangeHash]) -> Result<usize, StoreError> {
        let genesis = doc::genesis_actor();
        Ok(self.doc.get_changes(since).iter().filter(|c| c.actor_id() != &genesis).count())
    }

    /// The next sync message for a peer, if there is anything to say.
    pub fn sync_message(&mut self, peer: &mut sync::State) -> Result<Option<sync::Message>, StoreError> {
        self.refresh()?;
        Ok(self.doc.generate_sync_message(peer))
    }

    /// Takes a sync message from a peer and makes what it brought durable.
    pub fn receive_sync_message(&mut self, peer: &mut sync::State, message: sync::Message) -> Result<(), StoreError> {
        let Store { conn, doc, cursor, path, .. } = self;
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        let attempt = (|| {
            let heads = doc.get_heads();
            let mut log = PatchLog::active();
            doc.receive_sync_message_log_patches(peer, message, &mut log)?;
            let patches = doc.make_patches(&mut log);
            let new = doc.get_changes(&heads);
            chunks::append(&sql, &new, cursor)?;
            if cursor.changes >= chunks::COMPACT_AFTER {
                chunks::compact(&sql, doc, cursor)?;
            }
            index::update(&sql, doc, &patches, cursor.last_seq)?;
            sql.commit()?;
            Ok(())
        })();
        if attempt.is_err() {
            self.reload()?;
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
        let private: Vec<&Entry> = entries.iter().filter(|e| !e.shared).collect();
        let shared: Vec<&Entry> = entries.iter().filter(|e| e.shared).collect();
        let me = person.clone();
        self.write_shared(
            |tx| {
                doc::write_person(tx, me.id, &me.name)?;
                for (id, name) in people.iter().filter(|(id, _)| *id != me.id) {
                    doc::write_person(tx, *id, name)?;
                }
                for e in &shared {
                    doc::write_entry(tx, e)?;
                }
                Ok(())
            },
            |sql| {
                set_meta(sql, "person_id", &me.id.to_string())?;
                set_meta(sql, "person_name", &me.name)?;
                for e in &private {
                    rows::put(sql, Table::Private, e)?;
                }
                Ok(())
            },
        )?;
        self.me = Some(person);
        Ok(())
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(|source| StoreError::DataDir { path: dir.to_owned(), source })
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

fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?)
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([key, value])?;
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
fn list(conn: &Connection) -> Result<Vec<Entry>, StoreError> {
    let mut out = rows::all(conn, Table::Private)?;
    out.extend(rows::all(conn, Table::SharedIndex)?);
    sort_newest_first(&mut out);
    Ok(out)
}

/// The order every list starts from: newest first, ties broken by id.
fn sort_newest_first(entries: &mut [Entry]) {
    entries.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
}

#[cfg(test)]
mod tests;
