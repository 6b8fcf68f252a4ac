//! The outbox: shares and changes that wait on this phone, and their folding into the
//! shared document just before they are sent (or ahead of time, staged, while the safety
//! words are compared).

use super::*;

impl Store {
    /// How many shares and changes wait on this phone for the partner.
    pub fn waiting_count(&self) -> Result<usize, StoreError> {
        Ok(rows::count(&self.conn, Table::Outbox)? as usize)
    }

    /// When the next waiting share's undo ends, so the sync can wake up for it.
    pub fn next_ready(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        rows::outbox_next_ready(&self.conn)
    }

    /// Moves what waits in the outbox, and whose undo has ended, into the shared
    /// document, with this person's name: the sync session calls this just before it
    /// makes a message for the partner, so the document's history only ever holds what
    /// is about to be sent. Does nothing while this phone has no pairing
    /// (`start_couple`). A fold staged while the words were compared
    /// ([`Store::stage_outbox`]) is kept as it is. Returns the entries that went in: from
    /// now on they count as sent.
    pub fn fold_outbox(&mut self) -> Result<Vec<EntryId>, StoreError> {
        self.refresh()?;
        let mut folded = self.keep_staged()?;
        folded.extend(self.fold(Fold::Send)?);
        Ok(folded)
    }

    /// The entries `ids` as the journal lists them now, for a window to put in its lists;
    /// those no longer in the journal are said to be gone.
    pub fn listed(&mut self, ids: &[EntryId]) -> Result<Arrived, StoreError> {
        let mut listed = Arrived::default();
        for id in ids {
            match self.get(*id) {
                Ok(entry) => listed.entries.push(entry),
                Err(StoreError::NotFound(_)) => listed.gone.push(*id),
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    /// Folds what waits in the outbox into the shared document ahead of time, while the
    /// two people compare their safety words, so that sending can start the moment both
    /// say they match. Nothing leaves the phone: the shares also stay in the outbox, and
    /// the fold counts only once the document is about to be sent (a sync message made
    /// or received, [`Store::fold_outbox`]). Until then any change to a waiting share, its
    /// being kept private, or the pairing ending, takes the whole fold back
    /// ([`Store::unstage`]), so no version of a share that did not leave is ever in the
    /// history that does. Only a document that holds nothing yet is staged. Returns how
    /// many entries went in.
    pub fn stage_outbox(&mut self) -> Result<usize, StoreError> {
        self.refresh()?;
        if DocState::read(&self.conn)? != DocState::Live || self.doc.get_heads() != doc::genesis().get_heads() {
            return Ok(0);
        }
        Ok(self.fold(Fold::Stage)?.len())
    }

    /// Whether the shared document holds a fold that has not counted yet.
    pub fn is_staged(&self) -> Result<bool, StoreError> {
        Ok(DocState::read(&self.conn)? == DocState::Staged)
    }

    fn fold(&mut self, how: Fold) -> Result<Vec<EntryId>, StoreError> {
        let Some(me) = self.me.clone() else { return Ok(Vec::new()) };
        if DocState::read(&self.conn)? == DocState::Unpaired {
            return Ok(Vec::new());
        }
        let (now, _) = self.now();
        let name_known = self.name_in_doc.as_ref() == Some(&me)
            || doc::people(&self.doc)?.iter().any(|(id, name)| *id == me.id && *name == me.name);
        if name_known {
            self.name_in_doc = Some(me.clone());
        }
        // A move to this phone, said once in the document.
        let moved = get_meta(&self.conn, MOVED_HERE)?;
        let moved_known = moved.is_none() || doc::moved_at(&self.doc, me.id)? == moved;
        // Written only by a fold that sends: a staged fold may be taken back.
        let moved_known = moved_known || !matches!(how, Fold::Send);
        let current_actor = self.doc.get_actor().clone();
        let next_actor = match get_meta(&self.conn, NEXT_ACTOR)? {
            Some(hex) if !moved_known => Some(
                automerge::ActorId::try_from(hex.as_str())
                    .map_err(|_| StoreError::corrupt("the actor for this phone after its move is unreadable"))?,
            ),
            _ => None,
        };
        if name_known && moved_known && rows::outbox_next_ready(&self.conn)?.is_none_or(|at| at > now) {
            return Ok(Vec::new());
        }
        let folded = self.writing(|w| {
            // The pairing may have ended since the look above (by another connection):
            // nothing is folded for it, and nothing staged twice.
            let state = w.doc_state()?;
            if state == DocState::Unpaired || (matches!(how, Fold::Stage) && state != DocState::Live) {
                return Err(StoreError::PairingChanged);
            }
            // Letters made ahead are settled first: those that left are in the document
            // now, and those that did not give way to this fold.
            let mut ids = w.settle_letters()?;
            let folded = w.change_doc(|tx, sql| {
                if !name_known {
                    doc::write_person(tx, me.id, &me.name)?;
                }
                if let Some(at) = moved.as_deref().filter(|_| !moved_known) {
                    match &next_actor {
                        Some(next) => doc::write_handover(tx, me.id, at, &current_actor, next)?,
                        None => doc::write_moved(tx, me.id, at)?,
                    }
                }
                let ready = rows::outbox(sql, Some(now))?;
                write_waiting(tx, &ready)?;
                Ok(ready.into_iter().map(|w| w.id).collect::<Vec<_>>())
            })?;
            ids.extend(folded);
            // The handover is in: from here on this phone writes as itself.
            if let Some(next) = &next_actor {
                set_meta(&w.sql, ACTOR, &next.to_hex_string())?;
                w.sql.execute("DELETE FROM meta WHERE key = ?1", [NEXT_ACTOR])?;
            }
            match how {
                Fold::Send => {
                    for id in &ids {
                        rows::delete(&w.sql, Table::Outbox, *id)?;
                    }
                }
                Fold::Stage => DocState::set_staged(&w.sql, true)?,
            }
            w.fail(FailPoint::AfterLocalWrite)?;
            Ok(ids)
        })?;
        if let Some(next) = next_actor {
            self.doc.set_actor(next);
        }
        self.name_in_doc = Some(me);
        Ok(folded)
    }

    /// A staged fold counts from now: its shares leave the outbox, since the document
    /// holds them. While a fold is staged, an outbox row whose entry is in the document
    /// is one the fold took (every other change to the outbox takes the fold back).
    /// Returns the shares it held.
    pub(super) fn keep_staged(&mut self) -> Result<Vec<EntryId>, StoreError> {
        if !self.is_staged()? {
            return Ok(Vec::new());
        }
        self.writing(|w| {
            if w.doc_state()? != DocState::Staged {
                return Ok(Vec::new());
            }
            let in_doc: HashSet<EntryId> = doc::entry_ids(w.doc)?.into_iter().map(|(id, _)| id).collect();
            let waiting = rows::ids(&w.sql, Table::Outbox)?;
            let taken: Vec<EntryId> = waiting.iter().filter(|id| in_doc.contains(id)).copied().collect();
            if taken.len() == waiting.len() {
                w.sql.execute("DELETE FROM outbox", [])?;
            } else {
                for id in &taken {
                    rows::delete(&w.sql, Table::Outbox, *id)?;
                }
            }
            DocState::set_staged(&w.sql, false)?;
            Ok(taken)
        })
    }

    /// Takes a staged fold back ([`Store::stage_outbox`]): the shared document holds
    /// nothing again, and the shares, which never left the outbox, wait there as before.
    pub fn unstage(&mut self) -> Result<(), StoreError> {
        if !self.is_staged()? {
            return Ok(());
        }
        let fresh = self.writing(|w| w.take_back_staged())?;
        self.settle(fresh, true);
        Ok(())
    }
}

/// Writes what waits into the shared document (`tx`): a fold's, or a letter's.
pub(super) fn write_waiting(
    tx: &mut impl automerge::transaction::Transactable,
    waiting: &[Waiting],
) -> Result<(), StoreError> {
    for w in waiting {
        match &w.what {
            // A new share goes as it is.
            Pending::Share(entry) => doc::write_entry(tx, entry)?,
            // A change to a shared entry is made over what the document holds now, field
            // by field, so what the partner added stays. A change to an entry its author
            // has taken back since goes nowhere (a check-in on an agreement made private
            // again).
            Pending::Change(change) => {
                if let Some(obj) = doc::find_entry(tx, w.id)? {
                    doc::write_change(tx, &obj, change)?;
                }
            }
        }
    }
    Ok(())
}

/// What a fold of the outbox is for.
#[derive(Clone, Copy)]
enum Fold {
    /// To be sent now: the shares leave the outbox.
    Send,
    /// Ahead of time: the shares stay in the outbox until the fold counts.
    Stage,
}
