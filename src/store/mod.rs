//! One phone's journal on disk: a single SQLite file (WAL mode) that holds private entries
//! in a local table and the couple's shared Automerge document as a chunk log.
//!
//! Private entries never enter the shared document. Sharing moves an entry from the
//! private table into the document in one SQLite transaction, so an interrupted share
//! leaves it in exactly one of the two places.

mod chunks;
mod couple;
pub mod doc;
mod entries;
mod error;
mod incoming;
mod index;
pub mod inflate;
pub mod letters;
pub mod moved;
mod open;
mod outbox;
mod receive;
mod rekey;
mod rows;
pub mod rules;
mod schema;
pub(crate) mod sealed;
mod settings;

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
pub use couple::Continuable;
use couple::{Fresh, empty_document, put_past_document};
use entries::{list, locate, overlay_waiting, place, set_aside_ids, sort_newest_first};
pub use error::StoreError;
pub use incoming::{Arrived, Received};
pub use index::Touched;
pub use letters::{Mailbox, Outgoing};
pub use open::statements_run_here;
use rows::{Pending, Table, Waiting};
pub use rules::{PartnerRules, RuleBreak};
use settings::{ACTOR, MOVED_HERE, NEXT_ACTOR, get_meta, read_me, set_meta};

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
            "It is private again on this phone, but your partner's phone already has a copy, or will have one."
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
    /// The most bytes of changes the partner may add to the shared document
    /// ([`PARTNER_QUOTA`]; smaller in tests).
    partner_quota: u64,
    /// The stored size of a shared document too big to open ([`MAX_OPENED`]), left on
    /// disk unread: nothing that needs the document runs until the pairing ends.
    unopened: Option<u64>,
    /// Long index rows already decoded (`rows::Opened`).
    opened: std::cell::RefCell<rows::Opened>,
    /// This person's name as the document in memory is known to hold it, so a fold does
    /// not read the names again each time: a document only grows, and one loaded or
    /// started afresh forgets it.
    name_in_doc: Option<Person>,
    /// `PRAGMA data_version` when this connection last picked up what others wrote: while
    /// it stays the same, nobody else committed, and memory already holds the file.
    seen_version: Option<i64>,
    /// The id of the data key this store holds (`vault::KEY_ID`; none before the first
    /// passcode change). When another connection re-seals the journal with a new key,
    /// this one reads and writes nothing more.
    key_id: Option<String>,
}

/// The most bytes of changes from the partner's phone that may arrive while some of them
/// wait for earlier changes this phone has not received. The sync protocol sends changes
/// after what they build on, so an honest phone leaves something waiting rarely, and for
/// a round; without a bound a modified app could fill this phone's memory with changes
/// that never apply. (Automerge keeps such changes in memory only: a reload drops them.)
pub const MAX_HELD_BACK: usize = 8 * 1024 * 1024;

/// The most bytes of changes the partner's phone may add to a pairing's shared document,
/// as Automerge keeps them. A share is a few hundred bytes (BENCHMARKS.md: 290 B per
/// shared entry in the document), so this is room for some eighty thousand of the
/// partner's entries and edits: twenty a day for ten years. A modified app that sends
/// more is refused and sync with it stops, so it can't grow the document (and what this
/// phone loads at launch) without bound. This phone's own writing does not count.
pub const PARTNER_QUOTA: u64 = 32 * 1024 * 1024;

/// The most bytes of shared document, as stored, that Steady loads into memory. Twice
/// the partner's quota: room for the partner's whole quota and as much again of this
/// phone's own writing (some hundred thousand entries). A document stored bigger than
/// this (grown before the quota, or by a phone that got past it) is not loaded at all:
/// Automerge needs many times its stored size in memory, and a phone that runs out of
/// memory at launch can't even be unpaired. Such a journal still lists every entry from
/// its index, and ending the pairing sets the document apart without loading it.
pub const MAX_OPENED: u64 = 2 * PARTNER_QUOTA;

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
pub(super) enum Whereabouts {
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

    /// The stored size of the shared document when it is too big to open
    /// ([`MAX_OPENED`]): the entries are listed, and the pairing can be ended, but
    /// nothing is written or synced until it is.
    pub fn document_too_big(&self) -> Option<u64> {
        self.unopened
    }

    fn require_document(&self) -> Result<(), StoreError> {
        match self.unopened {
            Some(bytes) => Err(StoreError::DocumentTooBig { bytes, limit: MAX_OPENED }),
            None => Ok(()),
        }
    }

    /// Appends `bytes` to the shared document's log as a change, unchecked: for tests of
    /// a document that grew past what Steady opens.
    #[doc(hidden)]
    pub fn append_unchecked_change(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        chunks::append_unchecked(&tx, bytes)?;
        tx.commit()?;
        Ok(())
    }

    /// Sets how many bytes of changes the partner may add, for tests.
    #[doc(hidden)]
    pub fn set_partner_quota(&mut self, bytes: u64) {
        self.partner_quota = bytes;
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

    /// Picks up what another process on this phone wrote since we last looked. When no
    /// other connection has committed since, that is one question to SQLite, not four:
    /// each statement outside a transaction takes and drops the file's read lock, and the
    /// sealed settings are opened one by one.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let version = self.data_version()?;
        if self.seen_version == Some(version) {
            return Ok(());
        }
        if get_meta(&self.conn, crate::vault::KEY_ID)? != self.key_id {
            return Err(StoreError::KeyChanged);
        }
        if get_meta(&self.conn, GENERATION)?.unwrap_or_default() != self.generation {
            self.reload()?;
        }
        if self.unopened.is_none() {
            chunks::catch_up(&self.conn, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        }
        self.me = read_me(&self.conn)?;
        // Another connection may have written the handover of a move: this phone's
        // changes carry its new actor from then on.
        if let Some(hex) = get_meta(&self.conn, ACTOR)?
            && hex != self.doc.get_actor().to_hex_string()
            && let Ok(actor) = ActorId::try_from(hex.as_str())
        {
            self.doc.set_actor(actor);
        }
        self.seen_version = Some(version);
        Ok(())
    }

    /// Opens a write to the file: see [`Write`]. While the shared document is too big to
    /// open, only a write that `needs_document` not is let through: settings, and ending
    /// the pairing.
    fn write(&mut self, needs_document: bool) -> Result<Write<'_>, StoreError> {
        self.refresh()?;
        if needs_document {
            self.require_document()?;
        }
        let unopened = self.unopened.is_some();
        let Store { conn, doc, cursor, generation, opened, held_back, fail_at, path, key_id, .. } = self;
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if get_meta(&sql, crate::vault::KEY_ID)? != *key_id {
            return Err(StoreError::KeyChanged);
        }
        // Another process on this phone may have ended the pairing since this one looked:
        // nothing of the old document is written into the new one.
        if get_meta(&sql, GENERATION)?.unwrap_or_default() != *generation {
            return Err(StoreError::PairingChanged);
        }
        if !unopened {
            chunks::catch_up(&sql, doc, cursor).map_err(|e| e.at(path))?;
        }
        Ok(Write { sql, doc, cursor, opened: opened.get_mut(), held_back, fail_at: *fail_at })
    }

    /// Runs one write: opens it ([`Store::write`]), lets `work` decide and write inside it,
    /// and commits. Every method that writes the journal goes through here. If anything
    /// fails, nothing is written and the document in memory is read again from the file,
    /// so memory never holds what the file does not.
    pub(super) fn writing<T>(
        &mut self,
        work: impl FnOnce(&mut Write<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writing_as(true, work)
    }

    /// [`Store::writing`] for a write that reads nothing of the shared document, so it
    /// also runs while that document is too big to open ([`MAX_OPENED`]).
    pub(super) fn writing_apart<T>(
        &mut self,
        work: impl FnOnce(&mut Write<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writing_as(false, work)
    }

    fn writing_as<T>(
        &mut self,
        needs_document: bool,
        work: impl FnOnce(&mut Write<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let attempt = (|| {
            let mut w = self.write(needs_document)?;
            let out = work(&mut w)?;
            w.commit()?;
            Ok(out)
        })();
        // A store whose key the journal no longer uses can't read the file again: it
        // only says so.
        if attempt.is_err() && !matches!(attempt, Err(StoreError::KeyChanged)) {
            self.fail_at = None;
            self.reload()?;
        }
        attempt
    }

    /// Forgets what memory holds and reads the journal again from the file, after a
    /// fault part way through a step (memory may then hold what the file does not; the
    /// file, whose transaction rolled back, is whole).
    pub fn recover(&mut self) -> Result<(), StoreError> {
        self.fail_at = None;
        self.held_back = 0;
        self.reload()
    }

    /// Rebuilds the in-memory document from the file.
    fn reload(&mut self) -> Result<(), StoreError> {
        let actor = self.doc.get_actor().clone();
        let mut doc = Automerge::new();
        let mut cursor = ChunkCursor::default();
        self.generation = get_meta(&self.conn, GENERATION)?.unwrap_or_default();
        self.unopened = chunks::too_big_to_open(&self.conn)?;
        if self.unopened.is_none() {
            chunks::catch_up(&self.conn, &mut doc, &mut cursor).map_err(|e| e.at(&self.path))?;
        }
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
        self.writing(|w| {
            chunks::compact(&w.sql, w.doc, w.cursor)?;
            index::mark(&w.sql, w.cursor.last_seq)
        })?;
        self.scrub();
        Ok(())
    }

    /// After a write that took a staged fold back (`fresh`, the document started again),
    /// puts the new document in memory; after one that deleted text (`deleted`), scrubs
    /// the log.
    pub(super) fn settle(&mut self, fresh: Option<Fresh>, deleted: bool) {
        let took_back = fresh.is_some();
        if let Some(fresh) = fresh {
            self.install(fresh);
        }
        if deleted || took_back {
            self.scrub();
        }
    }

    /// Moves everything in the write-ahead log into the file and empties the log, so
    /// that text just deleted (with `secure_delete`, overwritten in the file's pages) is
    /// not left in an older copy of a page in the log. If another connection is reading
    /// at that moment, the log is emptied at a later write instead; nothing is lost.
    fn scrub(&self) {
        // Another connection writing at that moment: the next scrub repacks instead.
        let _ = self.repack_if_loose();
        let _ = self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }

    /// Rewrites the file with its pages full, and without its free pages, once either
    /// costs room: when free pages take more than [`ROOM_TO_GIVE_BACK`] (a large
    /// document set apart or deleted, zeroed by `secure_delete` but still the file's), or
    /// when the file has grown to half as big again as at its last repack (entries go in
    /// newest first in key order, and SQLite leaves the pages it splits about half
    /// empty: BENCHMARKS.md, bytes per entry). Runs where the log is emptied anyway:
    /// after folding it, deleting, or rewording a private entry.
    fn repack_if_loose(&self) -> Result<(), StoreError> {
        let pragma = |name: &str| self.conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
        let size = pragma("page_size")?;
        let (bytes, free) =
            (pragma("page_count")?.saturating_mul(size), pragma("freelist_count")?.saturating_mul(size));
        let last = get_meta(&self.conn, REPACKED_AT)?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        let loose = bytes >= REPACK_FROM && bytes > last.saturating_mul(3) / 2;
        if !loose && free <= ROOM_TO_GIVE_BACK {
            return Ok(());
        }
        self.conn.execute_batch("VACUUM")?;
        set_meta(&self.conn, REPACKED_AT, &pragma("page_count")?.saturating_mul(size).to_string())
    }
}

/// A file smaller than this is never repacked (`Store::repack_if_loose`).
const REPACK_FROM: i64 = 1024 * 1024;

/// The file's size when it was last repacked.
const REPACKED_AT: &str = "repacked_at_bytes";

/// Free pages the file may keep after a deletion before it is rewritten without them.
const ROOM_TO_GIVE_BACK: i64 = 8 * 1024 * 1024;

const COUPLE: &str = "couple";

/// Set while the shared document holds a staged fold ([`Store::stage_outbox`]).
const STAGED: &str = "staged";

const UPGRADE_DOCUMENT: &str = "upgrade_document";

const GENERATION: &str = "document_generation";
/// How many bytes of the shared document's changes are the partner's (sealed).
const PARTNER_BYTES: &str = "partner_bytes";
/// The past pairing a restore from a backup made of what the partner wrote, until the
/// next pairing.
const RESTORED_PAST: &str = "restored.past";
/// Entries a restore from a backup brought back that were waiting to be shared (ids,
/// one per line), until the next pairing.
const RESTORED_WAITING: &str = "restored.waiting";

/// A write to the journal file, opened by [`Store::write`]: an immediate transaction (no
/// other process writes until it ends), on the file of the same pairing as the document
/// in memory, which has caught up with every change other processes appended. Nothing is
/// written until it is committed; dropped, it writes nothing. It lends out the parts of
/// the store a write works on.
pub(super) struct Write<'s> {
    pub sql: rusqlite::Transaction<'s>,
    pub doc: &'s mut Automerge,
    pub cursor: &'s mut ChunkCursor,
    pub opened: &'s mut rows::Opened,
    pub held_back: &'s mut usize,
    fail_at: Option<FailPoint>,
}

impl Write<'_> {
    /// Where the shared document stands, as this transaction sees the file.
    pub fn doc_state(&self) -> Result<DocState, StoreError> {
        DocState::read(&self.sql)
    }

    /// Where entry `id` lives, and how the journal lists it, as this transaction sees
    /// the file: what is decided from it is decided inside the same transaction.
    pub fn locate(&mut self, id: EntryId) -> Result<(Entry, Whereabouts), StoreError> {
        locate(&self.sql, self.doc, self.opened, id)
    }

    /// Makes one change to the shared document (`edit`), and writes it to the file as
    /// the document's next chunk, with the index rows of the entries it touched.
    pub fn change_doc<T>(
        &mut self,
        edit: impl FnOnce(&mut Transaction<'_>, &rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // This phone's own changes never fork: a letter made ahead is settled first.
        self.settle_letters()?;
        let heads = self.doc.get_heads();
        let mut tx = self.doc.transaction();
        let out = edit(&mut tx, &self.sql)?;
        tx.commit();
        self.fail(FailPoint::AfterDocChange)?;
        let new = self.doc.get_changes(&heads);
        let touched = Touched::by(self.doc, &new);
        chunks::append(&self.sql, &new, self.cursor)?;
        self.fail(FailPoint::AfterChunkWrite)?;
        if self.cursor.changes >= chunks::COMPACT_AT_THE_LATEST {
            chunks::compact(&self.sql, self.doc, self.cursor)?;
        }
        index::update(&self.sql, self.doc, &touched, &new, self.cursor.last_seq, self.opened)?;
        Ok(out)
    }

    /// Takes a staged fold back, if the document holds one: the document starts again
    /// from its genesis, to be put in memory once this write is committed
    /// ([`Store::install`]). The shares it held never left the outbox.
    pub fn take_back_staged(&mut self) -> Result<Option<Fresh>, StoreError> {
        if self.doc_state()? != DocState::Staged {
            return Ok(None);
        }
        DocState::set_staged(&self.sql, false)?;
        empty_document(&self.sql).map(Some)
    }

    /// Fails here, if a test asked for it.
    pub fn fail(&self, point: FailPoint) -> Result<(), StoreError> {
        match self.fail_at {
            Some(p) if p == point => Err(StoreError::Injected(point)),
            _ => Ok(()),
        }
    }

    fn commit(self) -> Result<(), StoreError> {
        self.sql.commit()?;
        Ok(())
    }
}

/// Where the shared document stands. It is kept in `meta` (the couple, and a flag while
/// a fold is staged), and read only through here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DocState {
    /// No pairing: nothing is folded into the document, and nothing is sent.
    Unpaired,
    /// The document holds a fold made ahead of time while the safety words are compared
    /// ([`Store::stage_outbox`]). The shares it holds still wait in the outbox: the fold
    /// counts only once a sync message is made or taken, and anything that would make
    /// it untrue takes it back.
    Staged,
    /// Paired: what the document holds was sent, or is about to be.
    Live,
}

impl DocState {
    pub fn read(conn: &Connection) -> Result<DocState, StoreError> {
        Ok(if get_meta(conn, STAGED)?.is_some() {
            DocState::Staged
        } else if get_meta(conn, COUPLE)?.is_some() {
            DocState::Live
        } else {
            DocState::Unpaired
        })
    }

    /// Marks the document as holding a staged fold, or not.
    pub fn set_staged(conn: &Connection, staged: bool) -> Result<(), StoreError> {
        if staged {
            set_meta(conn, STAGED, "yes")
        } else {
            conn.execute("DELETE FROM meta WHERE key = ?1", [STAGED])?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
