//! A new data key for the whole journal: every sealed value opened with the old key and
//! sealed again with the new one, and every lookup tag made again, in one transaction.
//! It is what a passcode change does, so that an old copy of the key file and the old
//! passcode open nothing of the journal as it is now (`vault::change`).

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::rows::{self, Table};
use super::settings::{PLAIN_META, get_meta, set_meta};
use super::{Store, StoreError, sealed};
use crate::vault::{DataKey, KEY_ID, NewKey, Unsealable, Vault};

/// Every sealed column: its table, the place its values are sealed for, the column that
/// is its row's id, and the column itself. `tests::every_value_is_sealed_again` finds any
/// sealed value this list misses.
const SEALED: [(&str, &str, &str, &str); 9] = [
    ("private_entries", "private_entries", "id", "sealed"),
    ("outbox", "outbox", "id", "sealed"),
    ("shared_index", "shared_index", "id", "sealed"),
    ("shared_check_ins", "shared_check_ins", "id", "sealed"),
    ("doc_chunks", "doc_chunks", "seq", "bytes"),
    ("past_documents", "past_documents.about", "id", "about"),
    ("past_documents", "past_documents", "id", "bytes"),
    ("shared_people", "shared_people", "id", "name"),
    ("meta", "meta", "key", "value"),
];

/// The tables whose rows may carry a lookup tag.
const TAGGED: [Table; 3] = [Table::Private, Table::Outbox, Table::SharedIndex];

impl Store {
    /// Locks the journal with `passcode` (or, with `None`, keeps its key without one),
    /// under a new data key: the new key file is written beside the old one, the journal
    /// re-sealed with the new key in one transaction, and then the new key file put in
    /// place. A crash at any point leaves the old passcode or the new one working, never
    /// neither. Returns the new data key.
    pub fn change_passcode(&mut self, vault: &Vault, passcode: Option<&str>) -> Result<DataKey, StoreError> {
        let new = vault.begin_change(passcode)?;
        if let Err(e) = self.rekey(&new) {
            vault.abandon_change()?;
            return Err(e);
        }
        vault.finish_change()?;
        Ok(new.key)
    }

    /// Re-seals the whole journal with `new`. What was sealed with the old key is
    /// overwritten in the file (`secure_delete`) and the log of recent writes emptied, so
    /// no value the old key opens is left on disk.
    pub(super) fn rekey(&mut self, new: &NewKey) -> Result<(), StoreError> {
        self.refresh()?;
        let old = self.key.clone();
        let resealed = (|| {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if get_meta(&tx, KEY_ID)? != self.key_id {
                return Err(StoreError::KeyChanged);
            }
            install_rekeying(&tx, &old, &new.key)?;
            // Tags first: they are made from the values as still sealed with the old key.
            for table in TAGGED {
                tx.execute(
                    &format!("UPDATE {0} SET tag = retag('{0}', id, sealed) WHERE tag IS NOT NULL", table.name()),
                    [],
                )?;
            }
            for (table, place, id, column) in SEALED {
                let plain_meta = if table == "meta" {
                    format!(" WHERE key NOT IN ({})", PLAIN_META.map(|k| format!("'{k}'")).join(", "))
                } else {
                    String::new()
                };
                tx.execute(
                    &format!("UPDATE {table} SET {column} = reseal('{place}', {id}, {column}){plain_meta}"),
                    [],
                )?;
            }
            set_meta(&tx, KEY_ID, &new.id)?;
            tx.commit()?;
            Ok(())
        })();
        let _ = self.conn.remove_function("reseal", 3);
        let _ = self.conn.remove_function("retag", 3);
        resealed.map_err(|e| match e {
            StoreError::Sqlite(e) if sealed::is_unsealable(&e) => StoreError::Sealed,
            other => other,
        })?;
        sealed::install(&self.conn, &new.key)?;
        self.key = new.key.clone();
        self.key_id = Some(new.id.clone());
        self.seen_version = None;
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

/// `reseal(place, id, sealed)`: the value opened with `old` and sealed with `new` for the
/// same place; `retag(table, id, sealed)`: the lookup tag under `new` of a row sealed
/// with `old`. Both exist only while the journal is re-sealed.
fn install_rekeying(conn: &Connection, old: &DataKey, new: &DataKey) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8;
    let (opening, sealing) = (old.clone(), new.clone());
    conn.create_scalar_function("reseal", 3, flags, move |ctx: &Context<'_>| {
        let Some(value) = sealed::bytes(ctx.get_raw(2)) else { return Ok(Value::Null) };
        let aad = sealed::sql_aad(ctx.get_raw(0), ctx.get_raw(1));
        let plain = zeroize::Zeroizing::new(opening.open(&aad, value).map_err(user_error)?);
        Ok(Value::Blob(sealing.seal(&aad, &plain)))
    })?;
    let (opening, tagging) = (old.clone(), new.clone());
    conn.create_scalar_function("retag", 3, flags, move |ctx: &Context<'_>| {
        let (Some(place), Some(id), Some(value)) =
            (text(ctx.get_raw(0)), sealed::bytes(ctx.get_raw(1)), sealed::bytes(ctx.get_raw(2)))
        else {
            return Ok(Value::Null);
        };
        let Some(table) = TAGGED.into_iter().find(|t| t.name() == place) else { return Ok(Value::Null) };
        let plain =
            zeroize::Zeroizing::new(opening.open(&sealed::aad(place.as_bytes(), id), value).map_err(user_error)?);
        let lookup = rows::lookup_of(table, id, &plain).map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
        Ok(lookup.map_or(Value::Null, |text| Value::Blob(tagging.lookup_tag(&text).to_vec())))
    })?;
    Ok(())
}

fn user_error(e: Unsealable) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(Box::new(e))
}

fn text<'a>(v: ValueRef<'a>) -> Option<&'a str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}
