//! The SQLite schema. Migrations are append-only: a migration that has shipped is never
//! edited, only followed by a new one.
//!
//! From migration 3 on, every personal value is sealed with the data key: the connection
//! must have `store::sealed` installed before migrating.

use rusqlite::Connection;

use super::StoreError;
use super::rows::{self, Table};

const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- Entries that only this phone holds. Never read by sync.
    -- An entry's common fields in columns (ids as 16-byte UUIDs, times as UTC
    -- nanoseconds), the rest as a JSON object in `body`.
    CREATE TABLE private_entries (
        id         BLOB PRIMARY KEY,
        kind       TEXT NOT NULL,
        author     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        archived   INTEGER NOT NULL,
        body       TEXT NOT NULL
    ) WITHOUT ROWID;
    -- The shared document, as a snapshot and the changes made since.
    CREATE TABLE doc_chunks (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        kind   TEXT NOT NULL CHECK (kind IN ('snapshot', 'change')),
        bytes  BLOB NOT NULL,
        sha256 BLOB NOT NULL
    );
    -- The shared entries and names as plain rows, kept in step with the document in the
    -- same transactions, so lists never wait for the document to load.
    CREATE TABLE shared_index (
        id         BLOB PRIMARY KEY,
        kind       TEXT NOT NULL,
        author     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        archived   INTEGER NOT NULL,
        body       TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE shared_people (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL
    );
    ",
    // 2: sharing that waits until the partner is about to receive it, set-aside that
    // stays on this phone, and the documents of pairings that have ended.
    "
    ALTER TABLE private_entries ADD COLUMN shared_before INTEGER NOT NULL DEFAULT 0;
    -- Shares and changes to shared entries that have not been sent to the partner yet.
    -- The entry as it will be sent, in the same columns as the private table; `base` is
    -- the entry as the partner last received it (its fields as JSON), NULL for a new
    -- share; nothing is sent before `ready_at` (UTC nanoseconds), the end of the undo.
    CREATE TABLE outbox (
        id         BLOB PRIMARY KEY,
        kind       TEXT NOT NULL,
        author     BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        archived   INTEGER NOT NULL,
        body       TEXT NOT NULL,
        ready_at   INTEGER NOT NULL,
        base       TEXT
    ) WITHOUT ROWID;
    -- Shared entries this person set aside. Setting aside is personal: never shared.
    CREATE TABLE set_aside (
        id BLOB PRIMARY KEY
    ) WITHOUT ROWID;
    -- The shared document of each pairing that has ended, read-only, whole.
    CREATE TABLE past_documents (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        partner  TEXT NOT NULL,
        ended_at INTEGER NOT NULL,
        bytes    BLOB NOT NULL,
        sha256   BLOB NOT NULL
    );
    -- The shared document, if any, is set apart or emptied once on open (`Store::setup`).
    INSERT INTO meta (key, value) VALUES ('upgrade_document', 'yes');
    ",
    // 3: everything personal sealed with the data key; see `seal_everything`.
    "",
    // 4: each check-in on a shared agreement its own index row, so that a check-in
    // writes one small row and not the agreement with all it holds. The index is
    // rebuilt from the document on open.
    "
    -- `id` is the agreement's id and then the check-in's, 32 bytes: one key in the
    -- clear, as each row of the other tables has, under which it is sealed.
    CREATE TABLE shared_check_ins (id BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID;
    DELETE FROM shared_index;
    DELETE FROM meta WHERE key = 'index_seq';
    ",
];

/// Migration 3, after the journal's private entries and outbox have been read in the
/// clear: new tables with ids in the clear and the rest sealed, the chunk log, past
/// documents and settings sealed in place, and the index emptied (it is rebuilt from the
/// document on open). ARCHITECTURE.md lists what stays in the clear, and why.
const SEALING: &str = "
    DROP TABLE private_entries;
    CREATE TABLE private_entries (id BLOB PRIMARY KEY, tag BLOB, sealed BLOB NOT NULL) WITHOUT ROWID;
    DROP TABLE outbox;
    CREATE TABLE outbox (id BLOB PRIMARY KEY, tag BLOB, sealed BLOB NOT NULL) WITHOUT ROWID;
    DROP TABLE shared_index;
    CREATE TABLE shared_index (id BLOB PRIMARY KEY, tag BLOB, sealed BLOB NOT NULL) WITHOUT ROWID;
    -- A day's check-in is found by its lookup tag (`rows::daily_check_in`).
    CREATE INDEX private_entries_tag ON private_entries (tag) WHERE tag IS NOT NULL;
    CREATE INDEX outbox_tag ON outbox (tag) WHERE tag IS NOT NULL;
    CREATE INDEX shared_index_tag ON shared_index (tag) WHERE tag IS NOT NULL;
    DROP TABLE shared_people;
    CREATE TABLE shared_people (id TEXT PRIMARY KEY, name BLOB NOT NULL);
    DELETE FROM meta WHERE key = 'index_seq';

    CREATE TABLE doc_chunks_sealed (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        kind  TEXT NOT NULL CHECK (kind IN ('snapshot', 'change')),
        bytes BLOB NOT NULL
    );
    INSERT INTO doc_chunks_sealed (seq, kind, bytes)
        SELECT seq, kind, seal('doc_chunks', seq, bytes) FROM doc_chunks;
    DROP TABLE doc_chunks;
    ALTER TABLE doc_chunks_sealed RENAME TO doc_chunks;

    -- `about` is the partner's name and when the pairing ended, as JSON.
    CREATE TABLE past_documents_sealed (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        about BLOB NOT NULL,
        bytes BLOB NOT NULL
    );
    INSERT INTO past_documents_sealed (id, about, bytes)
        SELECT id, seal('past_documents.about', id, json_object('partner', partner, 'ended_at', ended_at)),
               seal('past_documents', id, bytes)
        FROM past_documents;
    DROP TABLE past_documents;
    ALTER TABLE past_documents_sealed RENAME TO past_documents;

    UPDATE meta SET value = seal('meta', key, value) WHERE key NOT IN ('index_seq', 'document_generation', 'upgrade_document');
";

fn seal_everything(tx: &Connection) -> Result<(), StoreError> {
    let private = rows::before_sealing::private(tx)?;
    let outbox = rows::before_sealing::outbox(tx)?;
    tx.execute_batch(SEALING)?;
    for entry in &private {
        rows::put(tx, Table::Private, entry)?;
    }
    for w in &outbox {
        rows::put_waiting(tx, w)?;
    }
    Ok(())
}

/// The newest schema this version understands.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// The first schema whose personal values are sealed.
pub const SEALED: i64 = 3;

/// The schema version the file is at.
pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema up to date, all in one transaction, with whatever `then` writes
/// (the key check) in the same one: a crash leaves the file as it was or all of it done.
pub fn migrate(
    conn: &mut Connection,
    from: i64,
    then: impl FnOnce(&Connection) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        if i as i64 + 1 == SEALED {
            seal_everything(&tx)?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    then(&tx)?;
    tx.commit()?;
    Ok(())
}
