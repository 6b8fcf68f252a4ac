//! The shared document and the partner: the sync messages this phone makes, and those it
//! receives, checked against the rules and made durable in one transaction, with what
//! they changed shown to the window as it happens.

use super::*;

impl Store {
    // ----- The shared document, whole -----

    /// The shared document's bytes, which any Automerge implementation can open. They
    /// are not compressed, so what they hold can be searched for as it is.
    pub fn document_bytes(&mut self) -> Result<Vec<u8>, StoreError> {
        self.refresh()?;
        self.require_document()?;
        Ok(self.doc.save_nocompress())
    }

    /// The Automerge actor of this phone's changes, which its partner's phone learns at
    /// pairing.
    pub fn actor(&self) -> ActorId {
        self.doc.get_actor().clone()
    }

    /// The shared document's current heads.
    pub fn heads(&self) -> Vec<automerge::ChangeHash> {
        self.doc.get_heads()
    }

    /// How many changes made on this phone or received here the peer behind `since` (the
    /// heads both sides last agreed on) does not have yet. The genesis never counts.
    pub fn changes_since(&self, since: &[automerge::ChangeHash]) -> Result<usize, StoreError> {
        // A staged fold's shares are counted where they still wait, in the outbox.
        if self.is_staged()? {
            return Ok(0);
        }
        let genesis = doc::genesis_actor();
        Ok(self.doc.get_changes(since).iter().filter(|c| c.actor_id() != &genesis).count())
    }

    /// The next sync message for a peer, if there is anything to say.
    pub fn sync_message(&mut self, peer: &mut sync::State) -> Result<Option<sync::Message>, StoreError> {
        self.refresh()?;
        self.require_document()?;
        // What is about to leave counts.
        self.keep_staged()?;
        Ok(self.doc.generate_sync_message(peer))
    }

    /// Takes a sync message from the partner and makes what it brought durable. Every
    /// change in it is checked against the rules first ([`rules::check_received`]): a
    /// message with one change that breaks them is refused whole, and the journal stays
    /// as it was. Says which entries (and whether names) the message changed, and how
    /// many changes it brought.
    pub fn receive_sync_message(
        &mut self,
        peer: &mut sync::State,
        message: sync::Message,
        partner: &PartnerRules,
    ) -> Result<Received, StoreError> {
        self.receive_sync_message_showing(peer, message, partner, None)
    }

    /// Does what [`Store::receive_sync_message`] does, and hands `show` what the message
    /// changed, as the journal lists it, the moment the message is applied and checked:
    /// the screen shows the entries while they are made durable. Should that fail, the
    /// journal is as it was and the session ends; nothing is reported as synced that is
    /// not durable. When the window must read for itself (the lists whole, or the names),
    /// `show` is called once the message is on disk.
    pub fn receive_sync_message_showing(
        &mut self,
        peer: &mut sync::State,
        message: sync::Message,
        partner: &PartnerRules,
        show: Option<&dyn Fn(Arrived)>,
    ) -> Result<Received, StoreError> {
        let me = self.require_me()?;
        // What Automerge keeps of the message for its next reply is checked first.
        check_have(&message)?;
        // A staged fold stays: the sync has begun.
        self.keep_staged()?;
        let fail_at = self.fail_at.take_if(|p| *p == FailPoint::BeforeReceivedCommit);
        let quota = self.partner_quota;
        let Write { sql, doc, cursor, opened, held_back, .. } = self.write(true)?;
        let mut shown_early = false;
        let attempt = (|| {
            // Automerge reads the message's chunks as one run of bytes, joined: a chunk may
            // start in one item and end in another, so they are measured joined too.
            let joined: Vec<u8> = message.changes.iter().flatten().copied().collect();
            // Compressed changes are measured inflated before Automerge inflates them.
            inflate::inflated_size([joined.as_slice()], MAX_INFLATED)
                .map_err(|inflate::TooBig(bytes)| StoreError::TooBig { bytes })?;
            // And the operations its columns declare are counted before any is built.
            inflate::declared_rows([joined.as_slice()], MAX_DECLARED_OPS)
                .map_err(|inflate::TooMany(rows)| StoreError::TooManyOps { rows })?;
            drop(joined);
            let size: usize = message.changes.iter().map(<[u8]>::len).sum();
            refuse_moved_away(doc, &message, partner)?;
            let heads = doc.get_heads();
            let whole = if is_whole_document(&message) {
                receive_whole(doc, peer, message)?
            } else {
                receive::receive(doc, peer, message)?;
                false
            };
            // Changes that wait for ones this phone lacks are kept only up to a bound.
            let nothing_waits = automerge::ReadDoc::get_missing_deps(doc, &[]).is_empty();
            let waiting = if nothing_waits { 0 } else { *held_back + size };
            if waiting > MAX_HELD_BACK {
                return Err(StoreError::HeldBack { bytes: waiting });
            }
            // A whole document is mostly new: its index rows are made on a second
            // thread while the rules check it.
            let (new, checked, prepared) = std::thread::scope(|scope| {
                let doc = &*doc;
                let prepared = whole.then(|| scope.spawn(|| index::prepare_all(doc)));
                let new = doc.get_changes(&heads);
                let checked = rules::check_received(doc, &heads, &new, me, partner);
                let prepared = prepared.map(|p| {
                    p.join().unwrap_or_else(|_| Err(StoreError::corrupt("the shared entries could not be read")))
                });
                (new, checked, prepared)
            });
            let touched = checked.map_err(StoreError::Refused)?;
            // What the partner adds counts against the quota, kept with the document.
            let devices = partner.devices(doc);
            let added: u64 =
                new.iter().filter(|c| devices.contains(c.actor_id())).map(|c| c.raw_bytes().len() as u64).sum();
            if added > 0 {
                let so_far = match get_meta(&sql, PARTNER_BYTES)?.and_then(|n| n.parse::<u64>().ok()) {
                    Some(n) => n,
                    // Not counted yet (a journal from before the quota): counted once.
                    None => partner_bytes(doc, partner).saturating_sub(added),
                };
                if so_far + added > quota {
                    return Err(StoreError::OverQuota { quota });
                }
                set_meta(&sql, PARTNER_BYTES, &(so_far + added).to_string())?;
            }
            debug_assert_eq!(touched, Touched::by(doc, &new), "the rules place objects as the index does");
            // My own entries come from the partner's phone only when this phone continued the
            // couple's document after a restore: the private copies the restore made go.
            let mine_back: Vec<EntryId> = if touched.whole {
                doc::entry_ids(doc)?.into_iter().map(|(id, _)| id).collect()
            } else {
                touched.entries.iter().copied().collect()
            };
            super::couple::take_back_copies(&sql, doc, &mine_back, me)?;
            // A few entries are read from the document once, for the screen and the index.
            let one_by_one = !touched.whole && touched.entries.len() <= READ_ONE_BY_ONE && prepared.is_none();
            let read = if one_by_one { Some(index::read_touched(&sql, doc, &touched, &new, opened)?) } else { None };
            // Entries go to the screen now; lists or names the window reads for itself,
            // once they are on disk.
            let mut after_commit = None;
            if let Some(show) = show
                && touched != Touched::default()
            {
                let arrived = arrived(&sql, &touched, read.as_deref())?;
                if arrived.whole || arrived.names {
                    after_commit = Some(arrived)
                } else {
                    show(arrived);
                    shown_early = true;
                }
            }
            chunks::append(&sql, &new, cursor)?;
            if cursor.changes >= chunks::COMPACT_AT_THE_LATEST {
                chunks::compact(&sql, doc, cursor)?;
            }
            match (prepared, read) {
                (Some(rows), _) => index::update_prepared(&sql, doc, &touched, rows?, cursor.last_seq)?,
                (None, Some(read)) => index::update_read(&sql, doc, &touched, read, cursor.last_seq, opened)?,
                (None, None) => index::update(&sql, doc, &touched, &new, cursor.last_seq, opened)?,
            }
            if let Some(point) = fail_at {
                return Err(StoreError::Injected(point));
            }
            sql.commit()?;
            *held_back = waiting;
            if let (Some(show), Some(arrived)) = (show, after_commit) {
                show(arrived);
            }
            Ok(Received { touched, changes: new.len() })
        })();
        if attempt.is_err() {
            self.reload()?;
            // What the window was shown did not reach the disk: it reads its lists again.
            if let (Some(show), true) = (show, shown_early) {
                show(Arrived { whole: true, names: true, ..Arrived::default() });
            }
        }
        attempt
    }
}

/// Past this many entries in one message (a first sync), what arrived is not read one by
/// one: the window reads its lists whole, which is cheaper.
const READ_ONE_BY_ONE: usize = 100;

/// What a received message changed, as this phone now lists it (a waiting edit of mine
/// laid over, set aside or not): for the window, which puts it in its lists without
/// reading the journal whole.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrived {
    pub entries: Vec<Entry>,
    /// Entries no longer in the journal (the partner unshared them).
    pub gone: Vec<EntryId>,
    /// A name changed.
    pub names: bool,
    /// Too much changed to say entry by entry, or some change could not be placed: read
    /// the lists whole.
    pub whole: bool,
}

/// What a sync message from the partner brought, once durable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// The entries (and whether names) it changed.
    pub touched: Touched,
    /// How many changes it brought: only the partner's, never the genesis.
    pub changes: usize,
}

/// Whether a sync message carries the partner's whole document (Automerge sends one, as
/// a single document chunk, when the partner lacks more than a third of it).
/// The most Bloom filters, and of the heads each was made at, a message may say it has:
/// Automerge sends one filter, at the heads both phones last agreed on.
const MAX_HAVES: usize = 8;
const MAX_LAST_SYNC: usize = 1024;
/// The most bits per entry and probes a filter may use: Automerge uses 10 and 7.
const MAX_BLOOM_BITS: u64 = 64;
const MAX_BLOOM_PROBES: u64 = 64;

/// Checks what a message says this phone's partner has, which Automerge keeps and reads
/// when it makes the next reply: a Bloom filter with no bits divides by zero there, and
/// one with billions of probes allocates without bound. Refused before Automerge sees it.
fn check_have(message: &sync::Message) -> Result<(), StoreError> {
    let bad = StoreError::BadSyncMessage;
    if message.have.len() > MAX_HAVES {
        return Err(bad("it says it has too many things"));
    }
    for have in &message.have {
        if have.last_sync.len() > MAX_LAST_SYNC {
            return Err(bad("it names too many heads"));
        }
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue;
        }
        let read = inflate::uleb(&bytes).and_then(|(entries, rest)| {
            let (bits, rest) = inflate::uleb(rest)?;
            let (probes, _) = inflate::uleb(rest)?;
            Some((entries, bits, probes))
        });
        match read {
            Some((entries, bits, probes))
                if entries > 0 && (1..=MAX_BLOOM_BITS).contains(&bits) && (1..=MAX_BLOOM_PROBES).contains(&probes) => {}
            _ => return Err(bad("a summary of what it has that can't be read")),
        }
    }
    Ok(())
}

/// The bytes of the partner's changes in `doc`.
/// Refuses, before Automerge sees it, a change this phone lacks made under a phone the
/// partner moved away from: only a copy of that phone's folder still writes as it (and
/// Automerge would otherwise refuse it in its own words, as a number used twice).
fn refuse_moved_away(doc: &Automerge, message: &sync::Message, partner: &PartnerRules) -> Result<(), StoreError> {
    if is_whole_document(message) {
        return Ok(());
    }
    let retired = super::doc::retired(doc, partner.person, None)?;
    if retired.is_empty() {
        return Ok(());
    }
    for bytes in message.changes.iter() {
        if let Ok(change) = automerge::Change::from_bytes(bytes.to_vec())
            && retired.contains(change.actor_id())
            && automerge::ReadDoc::get_change_by_hash(doc, &change.hash()).is_none()
        {
            return Err(StoreError::Refused(RuleBreak::MovedAway));
        }
    }
    Ok(())
}

fn partner_bytes(doc: &Automerge, partner: &PartnerRules) -> u64 {
    let devices = partner.devices(doc);
    doc.get_changes(&[]).iter().filter(|c| devices.contains(c.actor_id())).map(|c| c.raw_bytes().len() as u64).sum()
}

pub(super) fn is_whole_document(message: &sync::Message) -> bool {
    // A chunk starts with 4 magic bytes and a 4-byte checksum; then its type, 0 for a
    // document.
    let mut chunks = message.changes.iter();
    matches!((chunks.next(), chunks.next()), (Some(chunk), None) if chunk.get(8) == Some(&0))
}

/// Takes the partner's whole document: into an empty document, which Automerge loads in
/// one pass instead of replaying each of its changes against this phone's, and then this
/// phone's own changes that it lacks (at a new pairing, the genesis and the shares made
/// ready while the words were compared), when they are fewer. The result holds the same
/// changes the usual way would give. What arrived must hold the genesis and the result lack nothing; otherwise
/// (a document from elsewhere) it is taken the usual way, which the rules then judge.
/// Says whether it was loaded whole.
fn receive_whole(doc: &mut Automerge, peer: &mut sync::State, message: sync::Message) -> Result<bool, StoreError> {
    let genesis = doc::genesis().get_heads();
    let mut whole = Automerge::new().with_actor(doc.get_actor().clone());
    let mut state = peer.clone();
    let loaded = receive::guarded(|| whole.receive_sync_message(&mut state, message.clone())).is_ok()
        // This phone's changes are replayed onto the loaded document only when they are
        // the smaller part (the partner's whole document may be all but empty).
        && automerge::ReadDoc::stats(&whole).num_ops >= automerge::ReadDoc::stats(doc).num_ops
        && genesis.iter().all(|h| automerge::ReadDoc::get_change_by_hash(&whole, h).is_some())
        && whole.apply_changes(doc.get_changes(&genesis)).is_ok()
        && automerge::ReadDoc::get_missing_deps(&whole, &[]).is_empty();
    if loaded {
        *doc = whole;
        *peer = state;
        return Ok(true);
    }
    receive::receive(doc, peer, message)?;
    Ok(false)
}

/// What a received message changed, as the journal lists each entry (`place`, read in the
/// receiving transaction from the entries as the document now holds them).
fn arrived(
    sql: &Connection,
    touched: &Touched,
    read: Option<&[(EntryId, index::InDoc)]>,
) -> Result<Arrived, StoreError> {
    let mut arrived = Arrived { names: touched.people, ..Arrived::default() };
    let Some(read) = read else {
        arrived.whole = true;
        return Ok(arrived);
    };
    for (id, in_doc) in read {
        let in_doc = match in_doc {
            // An entry that can't be read shows as the store lists it: not at all.
            index::InDoc::Unreadable => {
                arrived.gone.push(*id);
                continue;
            }
            index::InDoc::Entry(entry, _) => Some(entry.clone()),
            index::InDoc::Absent => None,
        };
        match place(sql, *id, || Ok(in_doc), || Ok(DocState::read(sql)? == DocState::Staged))? {
            Some((entry, _)) => arrived.entries.push(entry),
            None => arrived.gone.push(*id),
        }
    }
    Ok(arrived)
}
