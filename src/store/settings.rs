//! What this phone keeps in `meta`: the person on this phone, the app's settings (never
//! shared), and the bookkeeping of the document, each sealed but for a few plain values.

use super::*;

impl Store {
    /// Sets up this phone's person, or changes the name they go by. The name is shared
    /// with the partner so their phone can say who wrote what.
    pub fn init(&mut self, name: &str) -> Result<Person, StoreError> {
        let id = self.me.as_ref().map(|p| p.id).unwrap_or_default();
        let person = Person::new(id, name)?;
        // The name reaches the shared document only when the partner is about to receive
        // it, with the first message of a sync (`fold_outbox`).
        self.writing(|w| {
            set_meta(&w.sql, "person_id", &person.id.to_string())?;
            set_meta(&w.sql, "person_name", &person.name)
        })?;
        self.me = Some(person.clone());
        Ok(person)
    }

    /// A setting of this phone's app (never shared), if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        get_meta(&self.conn, &setting_key(key))
    }

    /// Remembers a setting of this phone's app. It stays on this phone.
    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.writing_apart(|w| set_meta(&w.sql, &setting_key(key), value))
    }

    /// Forgets a setting of this phone's app.
    pub fn remove_setting(&mut self, key: &str) -> Result<(), StoreError> {
        self.writing_apart(|w| {
            w.sql.execute("DELETE FROM meta WHERE key = ?1", [setting_key(key)])?;
            Ok(())
        })
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
}

/// Settings kept in the clear: the index's sequence number, the random id of the
/// current shared document, flags of the migrations, and the id of the data key the
/// journal is sealed with (`vault::KEY_ID`). Every other value in `meta` is sealed.
pub(super) const PLAIN_META: [&str; 5] = ["index_seq", GENERATION, UPGRADE_DOCUMENT, STAGED, crate::vault::KEY_ID];

/// Where the app's setting `key` is kept among the journal's other values.
fn setting_key(key: &str) -> String {
    format!("setting.{key}")
}

pub(super) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
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

pub(super) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    let sql = if PLAIN_META.contains(&key) {
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    } else {
        "INSERT INTO meta (key, value) VALUES (?1, seal('meta', ?1, ?2)) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    };
    conn.prepare_cached(sql)?.execute([key, value])?;
    Ok(())
}

pub(super) fn read_me(conn: &Connection) -> Result<Option<Person>, StoreError> {
    let (Some(id), Some(name)) = (get_meta(conn, "person_id")?, get_meta(conn, "person_name")?) else {
        return Ok(None);
    };
    let id = id.parse().map_err(|_| StoreError::corrupt(format!("the person id {id:?} is unreadable")))?;
    Ok(Some(Person { id, name }))
}

/// The setting that holds when this journal arrived on this phone in a move (RFC 3339),
/// until the shared document says so too.
pub(super) const MOVED_HERE: &str = "moved.at";
/// The actor this phone takes once the handover of a move is in the document.
pub(super) const NEXT_ACTOR: &str = "moved.actor";
/// The Automerge actor this journal's changes carry.
pub(super) const ACTOR: &str = "actor";

impl Store {
    /// Notes that this journal has just arrived on a new phone, at `at`: the next fold
    /// writes it into this person's `people` entry, so the partner's phone can say so.
    ///
    /// It also gives this phone an Automerge actor of its own: the next fold writes the
    /// handover under the old phone's actor (`doc::write_handover`), and every change
    /// after it goes under the new one. The partner's phone then takes the new actor as
    /// this person's, and refuses the old one, which only a copy of the old phone's
    /// folder would still use.
    pub fn note_moved(&mut self, at: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let next = automerge::ActorId::random().to_hex_string();
        self.writing(|w| {
            set_meta(&w.sql, MOVED_HERE, &at)?;
            set_meta(&w.sql, NEXT_ACTOR, &next)
        })
    }

    /// Whether a phone whose document stands at `heads` lacks a handover of `person`'s
    /// (the partner's) that this phone holds: then it is a copy of the partner's phone
    /// from before they moved, since the phone they moved to wrote the handover itself.
    /// When `heads` holds changes this phone lacks, it can't tell; the rules judge those
    /// changes as they come.
    pub fn is_pre_move_copy(&self, person: crate::model::PersonId, heads: &[automerge::ChangeHash]) -> bool {
        let Ok(now) = super::doc::retired(&self.doc, person, None) else { return false };
        if now.is_empty() || heads.iter().any(|h| automerge::ReadDoc::get_change_by_hash(&self.doc, h).is_none()) {
            return false;
        }
        let Ok(theirs) = super::doc::retired(&self.doc, person, Some(heads)) else { return false };
        !now.is_subset(&theirs)
    }

    /// When `person` (the partner) last moved Steady to a new phone, as their phone wrote
    /// it in the shared document.
    pub fn moved_at(&self, person: crate::model::PersonId) -> Option<chrono::DateTime<chrono::Utc>> {
        let text = super::doc::moved_at(&self.doc, person).ok()??;
        chrono::DateTime::parse_from_rfc3339(&text).ok().map(|t| t.with_timezone(&chrono::Utc))
    }
}
