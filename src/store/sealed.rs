//! The data key inside the journal's SQLite connection, as three SQL functions, so no
//! statement can write a personal value in the clear by forgetting a step:
//!
//! - `seal(place, id, value)`: the value encrypted (XChaCha20-Poly1305, `vault::DataKey`)
//!   with its place (the table, or `meta`) and row id as associated data;
//! - `unseal(place, id, sealed)`: the value back, or an error if it does not open there;
//! - `lookup_tag(text)`: a keyed tag to find a row by a sealed field.
//!
//! Each takes and gives NULL for NULL.

use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value, ValueRef};

use crate::vault::{DataKey, Unsealable};

/// The associated data of a sealed value: its place, a zero byte, and its row id (an
/// integer id as 8 big-endian bytes).
pub fn aad(place: &[u8], id: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(place.len() + 1 + id.len());
    out.extend_from_slice(place);
    out.push(0);
    out.extend_from_slice(id);
    out
}

pub(crate) fn sql_aad(place: ValueRef<'_>, id: ValueRef<'_>) -> Vec<u8> {
    let place = match place {
        ValueRef::Text(t) => t,
        _ => &[],
    };
    match id {
        ValueRef::Blob(b) | ValueRef::Text(b) => aad(place, b),
        ValueRef::Integer(i) => aad(place, &i.to_be_bytes()),
        ValueRef::Real(_) | ValueRef::Null => aad(place, &[]),
    }
}

pub(crate) fn bytes<'a>(v: ValueRef<'a>) -> Option<&'a [u8]> {
    match v {
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b),
        _ => None,
    }
}

/// Puts `key` into `conn` as `seal`, `unseal` and `lookup_tag`.
pub fn install(conn: &Connection, key: &DataKey) -> rusqlite::Result<()> {
    let utf8 = FunctionFlags::SQLITE_UTF8;
    let sealing = key.clone();
    conn.create_scalar_function("seal", 3, utf8, move |ctx: &Context<'_>| {
        Ok(match bytes(ctx.get_raw(2)) {
            None => Value::Null,
            Some(plain) => Value::Blob(sealing.seal(&sql_aad(ctx.get_raw(0), ctx.get_raw(1)), plain)),
        })
    })?;
    let opening = key.clone();
    conn.create_scalar_function("unseal", 3, utf8 | FunctionFlags::SQLITE_DETERMINISTIC, move |ctx: &Context<'_>| {
        Ok(match bytes(ctx.get_raw(2)) {
            None => Value::Null,
            Some(sealed) => Value::Blob(
                opening
                    .open(&sql_aad(ctx.get_raw(0), ctx.get_raw(1)), sealed)
                    .map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?,
            ),
        })
    })?;
    let tagging = key.clone();
    conn.create_scalar_function(
        "lookup_tag",
        1,
        utf8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx: &Context<'_>| {
            Ok(match bytes(ctx.get_raw(0)) {
                None => Value::Null,
                Some(text) => Value::Blob(tagging.lookup_tag(text).to_vec()),
            })
        },
    )?;
    Ok(())
}

/// Whether an SQLite error is a sealed value that did not open.
pub fn is_unsealable(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::UserFunctionError(inner) => inner.is::<Unsealable>(),
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.contains(&Unsealable.to_string()),
        _ => false,
    }
}
