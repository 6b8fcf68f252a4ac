//! The couple and its pairings: the shared document of the current pairing starts, is
//! forgotten when its words did not match, or is set apart when the pairing ends; past
//! pairings' documents are kept read-only until deleted.

use super::*;

impl Store {
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
        self.writing(|w| set_meta(&w.sql, COUPLE, couple))
    }

    /// Starts a pairing that continues the couple's shared document from past pairing
    /// `past` (a partner restored from a backup asked for it, and the words were shown):
    /// the document comes back whole, with its history, as the current one; the past
    /// pairing is gone; and my entries in it that came back private when it ended are
    /// shared again, unless I changed them since ([`take_back_copies`]). Shares that wait
    /// go on waiting, for the continued document.
    pub fn continue_couple(&mut self, couple: &str, past: i64, earlier_partner: &str) -> Result<(), StoreError> {
        self.refresh()?;
        let bytes = self.past_document_bytes(past)?;
        let doc = Automerge::load(&bytes)
            .map_err(|e| StoreError::corrupt(format!("past pairing {past} can't be read ({e})")).at(&self.path))?;
        if self.doc.get_heads() != doc::genesis().get_heads() || self.couple()?.is_some() {
            self.end_couple(earlier_partner)?;
        }
        let fresh = self.writing_apart(|w| {
            let sql = &w.sql;
            let me = read_me(sql)?.map(|p| p.id);
            sql.execute("DELETE FROM past_documents WHERE id = ?1", [past])?;
            if let Some(me) = me {
                let ids: Vec<EntryId> = doc::entry_ids(&doc)?.into_iter().map(|(id, _)| id).collect();
                take_back_copies(sql, &doc, &ids, me)?;
            }
            set_meta(sql, COUPLE, couple)?;
            replace_document(sql, doc)
        })?;
        self.settle(Some(fresh), true);
        Ok(())
    }

    /// After a pairing is saved: what a restore from a backup set aside for the next
    /// pairing is settled. When this phone `continued` the couple's document with
    /// `partner`, the past pairing the restore made of their entries goes (the document
    /// brings them back, with their history), and the shares that were waiting when the
    /// backup was made wait again. Otherwise they stay as the restore left them: private.
    pub fn restored_pairing_continued(&mut self, partner: PersonId, continued: bool) -> Result<(), StoreError> {
        let past = get_meta(&self.conn, RESTORED_PAST)?.and_then(|id| id.parse::<i64>().ok());
        let waiting = get_meta(&self.conn, RESTORED_WAITING)?;
        if past.is_none() && waiting.is_none() {
            return Ok(());
        }
        let theirs = match (continued, past) {
            (true, Some(id)) => {
                let holds = self
                    .past_document_bytes(id)
                    .ok()
                    .and_then(|b| Automerge::load(&b).ok())
                    .is_some_and(|d| doc::people(&d).is_ok_and(|people| people.iter().any(|(p, _)| *p == partner)));
                holds.then_some(id)
            }
            _ => None,
        };
        let (now, _) = self.now();
        self.writing_apart(|w| {
            if let Some(id) = theirs {
                w.sql.execute("DELETE FROM past_documents WHERE id = ?1", [id])?;
            }
            if continued {
                for id in waiting.iter().flat_map(|w| w.lines()).filter_map(|id| id.parse::<EntryId>().ok()) {
                    if let Some(mut entry) = rows::get(&w.sql, Table::Private, id)? {
                        rows::delete(&w.sql, Table::Private, id)?;
                        entry.shared = true;
                        entry.waiting = true;
                        entry.archived = false;
                        rows::put_outbox(&w.sql, &entry, now)?;
                    }
                }
            }
            w.sql.execute("DELETE FROM meta WHERE key IN (?1, ?2)", [RESTORED_PAST, RESTORED_WAITING])?;
            Ok(())
        })?;
        self.scrub();
        Ok(())
    }

    /// The past pairings a partner restored from a backup may continue: one per person
    /// other than me in each past document, newest first, with that document's heads.
    /// A document too big to open, or unreadable, is left out.
    pub fn continuable(&self) -> Result<Vec<Continuable>, StoreError> {
        let me = self.me.as_ref().map(|p| p.id);
        let mut out = Vec::new();
        for past in self.past_documents()? {
            let Ok(bytes) = self.past_document_bytes(past.id) else { continue };
            let Ok(doc) = Automerge::load(&bytes) else { continue };
            for (person, _) in doc::people(&doc)? {
                if Some(person) != me {
                    out.push(Continuable { past: past.id, person, heads: doc.get_heads() });
                }
            }
        }
        Ok(out)
    }

    /// Forgets a pairing that was never confirmed: nothing was exchanged, so the shared
    /// document is still empty and shares keep waiting for the next pairing. If
    /// anything was exchanged after all, it is set apart as after unpairing.
    pub fn cancel_couple(&mut self, partner: &str) -> Result<(), StoreError> {
        // A staged fold is taken back in the same transaction that forgets the couple, so
        // nothing can stage the shares again for a pairing that is ending.
        let forgotten = self.writing(|w| {
            let staged = w.doc_state()? == DocState::Staged;
            if !staged && w.doc.get_heads() != doc::genesis().get_heads() {
                // Something was exchanged after all: it is kept, as after unpairing.
                return Ok(None);
            }
            w.sql.execute("DELETE FROM meta WHERE key = ?1", [COUPLE])?;
            w.take_back_staged().map(Some)
        })?;
        match forgotten {
            None => self.end_couple(partner),
            Some(fresh) => {
                self.settle(fresh, false);
                Ok(())
            }
        }
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
    ///
    /// A document too big to open ([`MAX_OPENED`]) is not loaded for this: what it holds
    /// now is read from its index, the past pairing keeps the partner's entries as they
    /// read today (without their history), and its rows are deleted.
    pub(super) fn retire_document(&mut self, partner: Option<&str>) -> Result<(), StoreError> {
        let (now, _) = self.now();
        let key = self.key.clone();
        let unopened = self.unopened.is_some();
        let fresh = self.writing_apart(|w| {
            let sql = &w.sql;
            let me = read_me(sql)?.map(|p| p.id);
            // A staged fold never left: its shares are still waiting, not in the document. It
            // is taken back in this transaction (the document is started afresh below), so
            // nothing stages the shares again before the couple is forgotten.
            let staged = w.doc_state()? == DocState::Staged;
            DocState::set_staged(sql, false)?;
            let mut waiting: HashMap<EntryId, Waiting> =
                rows::outbox(sql, None)?.into_iter().map(|w| (w.id, w)).collect();
            let set_aside = set_aside_ids(sql)?;
            let has_content = !staged && (unopened || w.doc.get_heads() != doc::genesis().get_heads());
            if has_content {
                let in_document = if unopened { rows::all(sql, &key, Table::SharedIndex)? } else { entries_in(w.doc)? };
                let mut theirs = Vec::new();
                for sent in in_document {
                    let id = sent.id;
                    if Some(sent.author) != me {
                        theirs.push(sent);
                        continue;
                    }
                    let mut entry = overlay_waiting(sent, waiting.remove(&id))?;
                    entry.archived = set_aside.contains(&id);
                    entry.waiting = false;
                    match partner {
                        Some(_) => {
                            entry.shared = false;
                            entry.shared_before = true;
                            rows::put(sql, Table::Private, &entry)?;
                        }
                        None => {
                            entry.shared = true;
                            entry.archived = false;
                            rows::put_outbox(sql, &entry, now)?;
                        }
                    }
                }
                if let Some(partner) = partner {
                    let bytes = if unopened { rebuilt_from_index(sql, &theirs)? } else { w.doc.save_nocompress() };
                    put_past_document(sql, partner, now, &bytes)?;
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
                    rows::put(sql, Table::Private, &entry)?;
                }
                sql.execute("DELETE FROM outbox", [])?;
                sql.execute("DELETE FROM set_aside", [])?;
            }
            sql.execute("DELETE FROM meta WHERE key = ?1", [COUPLE])?;
            empty_document(sql)
        })?;
        self.settle(Some(fresh), true);
        Ok(())
    }

    /// Makes `fresh` (from [`empty_document`], committed) the document in memory.
    pub(super) fn install(&mut self, fresh: Fresh) {
        let Fresh { mut doc, cursor, generation } = fresh;
        doc.set_actor(self.doc.get_actor().clone());
        self.doc = doc;
        self.cursor = cursor;
        self.generation = generation;
        self.held_back = 0;
        self.name_in_doc = None;
        self.unopened = None;
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
        let stored: Option<i64> = self
            .conn
            .prepare_cached("SELECT length(bytes) FROM past_documents WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        if let Some(bytes) = stored.and_then(|n| u64::try_from(n).ok())
            && bytes > MAX_OPENED
        {
            return Err(StoreError::PastDocumentTooBig { bytes, limit: MAX_OPENED });
        }
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
        self.writing(|w| match w.sql.execute("DELETE FROM past_documents WHERE id = ?1", [id])? {
            0 => Err(StoreError::NoPastDocument(id)),
            _ => Ok(()),
        })?;
        self.scrub();
        Ok(())
    }
}

/// A past pairing's shared document that a pairing may continue, for the partner whose
/// person id it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Continuable {
    pub past: i64,
    pub person: PersonId,
    pub heads: Vec<automerge::ChangeHash>,
}

/// My entries in `doc` among `ids` that also sit among my private entries, as they came
/// back when a pairing ended or a backup was restored: the private copy goes, since the
/// document holds the entry again, and its being set aside goes with it. A copy changed
/// since it was shared stays private, under a new id, so that nothing private is shared
/// without a tap and nothing is lost.
pub(super) fn take_back_copies(
    sql: &Connection,
    doc: &Automerge,
    ids: &[EntryId],
    me: PersonId,
) -> Result<(), StoreError> {
    for &id in ids {
        let Some(copy) = rows::get(sql, Table::Private, id)? else { continue };
        let Some(obj) = doc::find_entry(doc, id)? else { continue };
        let Ok(shared) = doc::read_entry(doc, id, &obj) else { continue };
        if copy.author != me || shared.author != me {
            continue;
        }
        rows::delete(sql, Table::Private, id)?;
        if same_writing(&copy, &shared) {
            if copy.archived {
                super::entries::set_aside(sql, id, true)?;
            }
        } else {
            let kept = Entry { id: EntryId::new(), shared_before: false, ..copy };
            rows::put(sql, Table::Private, &kept)?;
        }
    }
    Ok(())
}

/// Whether two copies of an entry say the same, whatever their places.
fn same_writing(a: &Entry, b: &Entry) -> bool {
    a.body == b.body && a.created_at == b.created_at && a.updated_at == b.updated_at && a.extra == b.extra
}

/// Every entry the document holds, as it reads now.
fn entries_in(doc: &Automerge) -> Result<Vec<Entry>, StoreError> {
    Ok(doc::entry_ids(doc)?.into_iter().filter_map(|(id, obj)| doc::read_entry(doc, id, &obj).ok()).collect())
}

/// A document holding `theirs` and the names the index knows, as they read now: what a
/// past pairing keeps of a document too big to open.
fn rebuilt_from_index(sql: &Connection, theirs: &[Entry]) -> Result<Vec<u8>, StoreError> {
    let mut past = doc::genesis();
    let mut tx = past.transaction();
    for entry in theirs {
        doc::write_entry(&mut tx, entry)?;
    }
    for (id, name) in index::people(sql)? {
        if let Ok(id) = id.parse() {
            doc::write_person(&mut tx, id, &name)?;
        }
    }
    tx.commit();
    Ok(past.save_nocompress())
}

/// A shared document holding only the genesis, just written to the file in place of the
/// one there, under a new generation.
pub(crate) struct Fresh {
    doc: Automerge,
    cursor: ChunkCursor,
    generation: String,
}

/// Replaces the file's shared document (its change log and index) with one that holds
/// only the genesis. The caller commits `sql`, then installs the result.
pub(super) fn empty_document(sql: &Connection) -> Result<Fresh, StoreError> {
    replace_document(sql, doc::genesis())
}

/// Replaces the file's shared document (its change log and index) with `doc`, under a
/// new generation; the partner's bytes are counted again. The caller commits `sql`, then
/// installs the result, which takes this phone's actor.
fn replace_document(sql: &Connection, doc: Automerge) -> Result<Fresh, StoreError> {
    sql.execute("DELETE FROM doc_chunks", [])?;
    sql.execute("DELETE FROM meta WHERE key = ?1", [PARTNER_BYTES])?;
    let generation = uuid::Uuid::now_v7().to_string();
    set_meta(sql, GENERATION, &generation)?;
    let mut cursor = ChunkCursor::default();
    chunks::append(sql, &doc.get_changes(&[]), &mut cursor)?;
    index::rebuild(sql, &doc, cursor.last_seq)?;
    Ok(Fresh { doc, cursor, generation })
}

pub(super) fn put_past_document(
    sql: &Connection,
    partner: &str,
    at: DateTime<Utc>,
    bytes: &[u8],
) -> Result<i64, StoreError> {
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
    Ok(id)
}
