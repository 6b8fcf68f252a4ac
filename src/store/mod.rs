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
mod open;
mod outbox;
mod receive;
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
use couple::{empty_document, put_past_document};
use entries::{list, overlay_waiting, place, set_aside_ids, sort_newest_first};
pub use error::StoreError;
pub use incoming::{Arrived, Received};
pub use index::Touched;
pub use open::statements_run_here;
use rows::{Pending, Table, Waiting};
pub use rules::{PartnerRules, RuleBreak};
use settings::{get_meta, read_me, set_meta};

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
        if get_meta(&self.conn, GENERATION)?.unwrap_or_default() != self.generation {
            self.reload()?;
        }
        chunks::catch_up(&self.conn, &mut self.doc, &mut self.cursor).map_err(|e| e.at(&self.path))?;
        self.me = read_me(&self.conn)?;
        self.seen_version = Some(version);
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

/// Fails when another process on this phone ended the pairing since this one loaded the
/// shared document, so nothing of the old document is written into the new one.
fn same_document(sql: &Connection, generation: &str) -> Result<(), StoreError> {
    if get_meta(sql, GENERATION)?.unwrap_or_default() == generation { Ok(()) } else { Err(StoreError::PairingChanged) }
}

#[cfg(test)]
mod tests;
