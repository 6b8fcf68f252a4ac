//! The SQLite schema. Migrations are append-only: a migration that has shipped is never
//! edited, only followed by a new one.

use rusqlite::Connection;

use super::StoreError;

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
];

/// The newest schema this version understands.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// The schema version the file is at.
pub fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the schema up to date, all in one transaction.
pub fn migrate(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}
