//! Entries where they live: reading them (lists, one entry, the names), writing private
//! ones, editing any of mine where it lives, sharing, unsharing, setting aside, and
//! restoring an export.

use super::*;

impl Store {
    // ----- Reading -----

    /// Every entry, private and shared, newest first.
    pub fn entries(&mut self) -> Result<Vec<Entry>, StoreError> {
        self.refresh()?;
        list(&self.conn, &self.key)
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

    fn locate(&self, id: EntryId) -> Result<(Entry, Whereabouts), StoreError> {
        locate(&self.conn, &self.doc, &mut self.opened.borrow_mut(), id)
    }

    /// Checks that the index of shared entries says exactly what the document says, for
    /// tests.
    #[doc(hidden)]
    pub fn verify_index(&mut self) -> Result<(), String> {
        // One snapshot of the file for both, whatever another process writes meanwhile.
        self.conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
        let read = (|| -> Result<(Vec<Entry>, Vec<Entry>), String> {
            self.refresh().map_err(|e| e.to_string())?;
            let mut from_index: Vec<Entry> =
                rows::all(&self.conn, &self.key, Table::SharedIndex).map_err(|e| e.to_string())?;
            sort_newest_first(&mut from_index);
            let mut from_doc = Vec::new();
            for (id, obj) in doc::entry_ids(&self.doc).map_err(|e| e.to_string())? {
                if let Ok(e) = doc::read_entry(&self.doc, id, &obj) {
                    from_doc.push(e);
                }
            }
            sort_newest_first(&mut from_doc);
            Ok((from_index, from_doc))
        })();
        let _ = self.conn.execute_batch("END");
        let (from_index, from_doc) = read?;
        if from_index == from_doc { Ok(()) } else { Err(format!("index {from_index:#?}\ndocument {from_doc:#?}")) }
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
        self.writing(|w| rows::put(&w.sql, Table::Private, &entry))?;
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
        self.writing(|w| {
            let (mut entry, whereabouts) = w.locate(id)?;
            if let Whereabouts::Private = whereabouts {
                entry.set_archived(archived, me, now)?;
                rows::put(&w.sql, Table::Private, &entry)?;
                return Ok(entry);
            }
            // Setting a shared entry aside is this person's own business: it stays on this
            // phone and changes nothing the partner sees.
            entry.check_author(me)?;
            set_aside(&w.sql, id, archived)?;
            entry.archived = archived;
            Ok(entry)
        })
    }

    /// Changes an entry where it lives. A change to a shared entry waits in the outbox
    /// until the partner is about to receive it; only then does it enter the shared
    /// document's history.
    fn update(
        &mut self,
        id: EntryId,
        change: impl FnOnce(&mut Entry) -> Result<(), ModelError>,
    ) -> Result<Entry, StoreError> {
        let (now, _) = self.now();
        let (entry, replaced, fresh) = self.writing(|w| {
            let (mut entry, whereabouts) = {
                w.settle_letters()?;
                w.locate(id)?
            };
            let set_aside = entry.archived;
            let before = matches!(whereabouts, Whereabouts::Shared { .. }).then(|| entry.to_fields());
            change(&mut entry)?;
            let waits = !matches!(whereabouts, Whereabouts::Private);
            let (replaced, fresh) = match whereabouts {
                Whereabouts::Private => {
                    // The words replaced must not stay in an older copy of the page in
                    // the log, where the key still opens them: the log is emptied below.
                    rows::put(&w.sql, Table::Private, &entry)?;
                    (true, None)
                }
                Whereabouts::Waiting { ready_at } => {
                    // A staged fold holds the version this change replaces: taken back.
                    let fresh = w.take_back_staged()?;
                    let mut outgoing = entry.clone();
                    outgoing.archived = false;
                    rows::put_outbox(&w.sql, &outgoing, ready_at)?;
                    (true, fresh)
                }
                Whereabouts::Shared { waiting } => {
                    // Only what this change did waits, after any change that waits already.
                    // Set-aside is kept on this phone and is never part of it.
                    let made = Change::between(&before.unwrap_or_default(), &entry.to_fields());
                    let replaces = waiting.is_some();
                    let (change, ready_at) = match waiting {
                        Some((waiting, ready_at)) => (waiting.then(made), ready_at),
                        None => (made, now),
                    };
                    rows::put_outbox_change(&w.sql, id, ready_at, &change)?;
                    (replaces, None)
                }
            };
            entry.archived = set_aside;
            entry.waiting = waits;
            Ok((entry, replaced, fresh))
        })?;
        self.settle(fresh, replaced);
        Ok(entry)
    }

    /// Shares one of my entries with my partner. It waits on this phone until the
    /// partner's phone is about to receive it, and can be taken back without a trace
    /// until then. Sharing a shared entry does nothing.
    pub fn share(&mut self, id: EntryId) -> Result<Entry, StoreError> {
        self.share_after(id, std::time::Duration::ZERO)
    }

    /// Like [`Store::share`], but the entry may not leave the phone before `undo` has
    /// passed: the app offers "Undo" for that long.
    pub fn share_after(&mut self, id: EntryId, undo: std::time::Duration) -> Result<Entry, StoreError> {
        let me = self.require_me()?;
        let (now, _) = self.now();
        let ready_at = now + chrono::Duration::from_std(undo).unwrap_or_default();
        self.writing(|w| {
            let (mut entry, whereabouts) = {
                w.settle_letters()?;
                w.locate(id)?
            };
            entry.check_author(me)?;
            if !matches!(whereabouts, Whereabouts::Private) {
                return Ok(entry);
            }
            let kept_aside = entry.archived;
            entry.archived = false;
            entry.shared = true;
            entry.shared_before = false;
            rows::delete(&w.sql, Table::Private, id)?;
            rows::put_outbox(&w.sql, &entry, ready_at)?;
            if kept_aside {
                set_aside(&w.sql, id, true)?;
            }
            entry.archived = kept_aside;
            entry.waiting = true;
            Ok(entry)
        })
    }

    /// Takes one of my entries back and keeps it private again. If it was not sent yet,
    /// it leaves no trace; if it was, the partner's phone keeps the copy it has. Whether
    /// it was sent is decided in the same transaction that takes it back, so a sync
    /// sending it at that moment can't make the answer untrue.
    pub fn unshare(&mut self, id: EntryId) -> Result<Unshared, StoreError> {
        let me = self.require_me()?;
        let (unshared, fresh) = self.writing(|w| {
            let (mut entry, whereabouts) = {
                w.settle_letters()?;
                w.locate(id)?
            };
            entry.check_author(me)?;
            entry.shared = false;
            entry.waiting = false;
            let (partner_has_copy, fresh) = match whereabouts {
                Whereabouts::Private => return Ok((Unshared { entry, partner_has_copy: false }, None)),
                Whereabouts::Waiting { .. } => {
                    // A staged fold holds it: taken back whole, so it leaves no trace.
                    (false, w.take_back_staged()?)
                }
                Whereabouts::Shared { .. } => {
                    w.change_doc(|tx, _| doc::delete_entry(tx, id))?;
                    (true, None)
                }
            };
            rows::delete(&w.sql, Table::Outbox, id)?;
            set_aside(&w.sql, id, false)?;
            rows::put(&w.sql, Table::Private, &entry)?;
            if partner_has_copy {
                w.fail(FailPoint::AfterLocalWrite)?;
            }
            Ok((Unshared { entry, partner_has_copy }, fresh))
        })?;
        self.settle(fresh, true);
        Ok(unshared)
    }

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
        // My own entries come back as entries I can edit and share again: they must be
        // whole. What the partner wrote comes back as it was kept, read-only, beside a past
        // pairing: their phone's limits were checked there, and a backup restores
        // everything Steady itself kept.
        for e in entries.iter().filter(|e| e.author == person.id) {
            e.validate().map_err(|err| StoreError::BadImport(format!("entry {}: {err}", e.id)))?;
        }
        // A restored journal has no pairing. My entries come back private (the shared
        // ones marked as shared before: sharing is chosen afresh with the next pairing,
        // unless it continues the couple's document),
        // and what the partner wrote is kept apart, read-only, as after unpairing.
        let (now, _) = self.now();
        // Those still waiting to be sent are noted: a pairing that continues the couple's
        // document makes them wait again.
        let mine: Vec<Entry> = entries
            .iter()
            .filter(|e| e.author == person.id)
            .map(|e| Entry { shared: false, waiting: false, shared_before: e.shared || e.shared_before, ..e.clone() })
            .collect();
        let waiting: Vec<String> = entries
            .iter()
            .filter(|e| e.author == person.id && e.shared && e.waiting)
            .map(|e| e.id.to_string())
            .collect();
        let theirs: Vec<&Entry> = entries.iter().filter(|e| e.author != person.id).collect();
        let past = if theirs.is_empty() {
            None
        } else {
            let mut doc = doc::genesis().with_actor(ActorId::random());
            let mut tx = doc.transaction();
            for (id, name) in people {
                doc::write_person(&mut tx, *id, name)?;
            }
            for e in &theirs {
                doc::write_entry(&mut tx, e)?;
            }
            tx.commit();
            let partner = people.iter().find(|(id, _)| *id != person.id).map(|(_, n)| n.clone());
            Some((partner.unwrap_or_else(|| "your partner".to_owned()), doc.save_nocompress()))
        };
        self.writing(|w| {
            set_meta(&w.sql, "person_id", &person.id.to_string())?;
            set_meta(&w.sql, "person_name", &person.name)?;
            for e in &mine {
                rows::put(&w.sql, Table::Private, e)?;
            }
            if !waiting.is_empty() {
                set_meta(&w.sql, RESTORED_WAITING, &waiting.join("\n"))?;
            }
            match past {
                Some((partner, bytes)) => {
                    let id = put_past_document(&w.sql, &partner, now, &bytes)?;
                    set_meta(&w.sql, RESTORED_PAST, &id.to_string())
                }
                None => Ok(()),
            }
        })?;
        self.me = Some(person);
        Ok(())
    }
}

/// Where entry `id` lives and how the journal lists it, `None` when it is nowhere: private,
/// waiting in the outbox, or in the shared document (`in_doc`, read only when it is not
/// private) with any waiting change of mine laid over. `staged` says whether a fold is
/// staged, asked only when it matters.
pub(super) fn place(
    conn: &Connection,
    id: EntryId,
    in_doc: impl FnOnce() -> Result<Option<Entry>, StoreError>,
    staged: impl FnOnce() -> Result<bool, StoreError>,
) -> Result<Option<(Entry, Whereabouts)>, StoreError> {
    if let Some(e) = rows::get(conn, Table::Private, id)? {
        return Ok(Some((e, Whereabouts::Private)));
    }
    let waiting = rows::outbox_entry(conn, id)?;
    let in_doc = in_doc()?;
    let set_aside = is_set_aside(conn, id)?;
    // A new share that a staged fold holds too is still only waiting.
    let in_doc = match (&waiting, in_doc) {
        (Some(Waiting { what: Pending::Share(_), .. }), Some(_)) if staged()? => None,
        (_, in_doc) => in_doc,
    };
    let (mut entry, place) = match (waiting, in_doc) {
        (None, None) => return Ok(None),
        (Some(Waiting { what: Pending::Share(entry), ready_at, .. }), None) => {
            (entry, Whereabouts::Waiting { ready_at })
        }
        // A change to an entry the document no longer holds shows nowhere.
        (Some(Waiting { what: Pending::Change(_), .. }), None) => return Ok(None),
        (None, Some(sent)) => (sent, Whereabouts::Shared { waiting: None }),
        (Some(w), Some(sent)) => match w.what {
            // A new share the document holds too (a staged fold): a change of it waits
            // as long as the share would have.
            Pending::Share(entry) => (entry, Whereabouts::Shared { waiting: Some((Change::default(), w.ready_at)) }),
            Pending::Change(change) => {
                let entry = overlay(sent, Some(&change))?;
                (entry, Whereabouts::Shared { waiting: Some((change, w.ready_at)) })
            }
        },
    };
    entry.archived = set_aside;
    Ok(Some((entry, place)))
}

/// A shared entry as this person sees it: as the partner last received it, with any
/// change of mine that waits in the outbox on top.
fn overlay(sent: Entry, waiting: Option<&Change>) -> Result<Entry, StoreError> {
    let Some(change) = waiting else { return Ok(sent) };
    let mut entry = Entry::from_fields_lenient(sent.id, true, change.apply(&sent.to_fields()))?;
    entry.waiting = true;
    Ok(entry)
}

/// A waiting row laid over the shared entry it is about, as [`place`] does.
pub(super) fn overlay_waiting(sent: Entry, waiting: Option<Waiting>) -> Result<Entry, StoreError> {
    match waiting.map(|w| w.what) {
        None => Ok(sent),
        Some(Pending::Share(entry)) => Ok(entry),
        Some(Pending::Change(change)) => overlay(sent, Some(&change)),
    }
}

/// Where entry `id` lives and how the journal lists it, read on `conn`: the index holds
/// the document's entries as they read, in step with it in every transaction: one row to
/// open, where the document would be read field by field (an agreement's hundreds of
/// check-ins). An entry the index leaves out, one this version can't read, is read from
/// the document for the reason.
pub(super) fn locate(
    conn: &Connection,
    doc: &Automerge,
    opened: &mut rows::Opened,
    id: EntryId,
) -> Result<(Entry, Whereabouts), StoreError> {
    let in_doc = || match rows::get_index(conn, id, opened)? {
        Some(entry) => Ok(Some(entry)),
        None => match doc::find_entry(doc, id)? {
            Some(obj) => Ok(Some(doc::read_entry(doc, id, &obj)?)),
            None => Ok(None),
        },
    };
    place(conn, id, in_doc, || Ok(DocState::read(conn)? == DocState::Staged))?.ok_or(StoreError::NotFound(id))
}

/// Sets entry `id` aside on this phone, or brings it back.
pub(super) fn set_aside(conn: &Connection, id: EntryId, aside: bool) -> Result<(), StoreError> {
    let bytes = id.as_uuid().as_bytes().to_vec();
    if aside {
        conn.prepare_cached("INSERT OR IGNORE INTO set_aside (id) VALUES (?1)")?.execute([bytes])?;
    } else {
        conn.prepare_cached("DELETE FROM set_aside WHERE id = ?1")?.execute([bytes])?;
    }
    Ok(())
}

pub(super) fn is_set_aside(conn: &Connection, id: EntryId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM set_aside WHERE id = ?1")?
        .query_row([id.as_uuid().as_bytes().to_vec()], |_| Ok(()))
        .optional()?
        .is_some())
}

pub(super) fn set_aside_ids(conn: &Connection) -> Result<HashSet<EntryId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM set_aside")?;
    let mut rows = stmt.query([])?;
    let mut out = HashSet::new();
    while let Some(row) = rows.next()? {
        if let Ok(id) = uuid::Uuid::from_slice(row.get_ref(0)?.as_blob()?) {
            out.insert(EntryId::from_uuid(id));
        }
    }
    Ok(out)
}

/// Every entry, private and shared, newest first, read from SQLite alone.
pub(super) fn list(conn: &Connection, key: &DataKey) -> Result<Vec<Entry>, StoreError> {
    let mut out = rows::all(conn, key, Table::Private)?;
    let set_aside = set_aside_ids(conn)?;
    let mut waiting: HashMap<EntryId, Waiting> = rows::outbox(conn, None)?.into_iter().map(|w| (w.id, w)).collect();
    for sent in rows::all(conn, key, Table::SharedIndex)? {
        let pending = waiting.remove(&sent.id);
        let mut entry = overlay_waiting(sent, pending)?;
        entry.archived = set_aside.contains(&entry.id);
        out.push(entry);
    }
    // What is left are new shares, and changes to entries the index does not list.
    for (id, w) in waiting {
        let Pending::Share(mut entry) = w.what else { continue };
        entry.archived = set_aside.contains(&id);
        out.push(entry);
    }
    sort_newest_first(&mut out);
    Ok(out)
}

/// The order every list starts from.
pub(super) fn sort_newest_first(entries: &mut [Entry]) {
    entries.sort_by(Entry::newest_first);
}
