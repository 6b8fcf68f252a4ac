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
    CREATE TABLE private_entries (
        id     TEXT PRIMARY KEY,
        fields TEXT NOT NULL
    );
    -- The shared document, as a snapshot and the changes made since.
    CREATE TABLE doc_chunks (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        kind   TEXT NOT NULL CHECK (kind IN ('snapshot', 'change')),
        bytes  BLOB NOT NULL,
        sha256 BLOB NOT NULL
    );
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
