//! Letters, the journal's side: what waits in the outbox, made ahead of time into the
//! change the partner's phone will receive, so that a courier holding no key to the
//! journal can carry it while this phone is locked (`net::letters` seals it; the
//! [design](../../docs/design/letters.md)).
//!
//! A letter is one file in the mailbox beside the journal, and a record of its changes
//! in `meta`, sealed with the data key. The file's name is the letter's state, moved by
//! an atomic rename, so the app and a courier in another process never both take one:
//! - `out/ID.letter`: waiting; the courier sends it once its undo has ended;
//! - `out/ID.sending`: a courier took it and is sending it now;
//! - `sent/ID`: it left this phone.
//!
//! Before anything changes the outbox or the shared document, the letters are settled
//! ([`Write::settle_letters`]): a letter still waiting is withdrawn (renamed away and
//! deleted; it never left, so it leaves no trace), and one that left, or is leaving, is
//! taken into the document as it was sent, its entries out of the outbox: they count as
//! sent. So this phone's own changes never fork: no change is made beside a letter's.

use std::fs;
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use super::*;

/// The mailbox's folder, in the data directory.
pub const LETTERS_DIR: &str = "letters";
/// The `meta` keys of the letters' records: `letter.ID`.
const RECORD: &str = "letter.";

/// The mailbox: the letter files beside a journal. Needs no key.
#[derive(Clone, Debug)]
pub struct Mailbox {
    root: PathBuf,
}

/// What became of a letter when it was settled.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// Taken back before it left: it is gone.
    Withdrawn,
    /// It left, or is leaving, this phone.
    Left,
}

impl Mailbox {
    /// The mailbox of the journal in the data directory `dir`.
    pub fn in_dir(dir: &Path) -> Mailbox {
        Mailbox { root: dir.join(LETTERS_DIR) }
    }

    /// The mailbox of the journal file `journal`.
    pub fn beside(journal: &Path) -> Mailbox {
        Mailbox::in_dir(journal.parent().unwrap_or(Path::new(".")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Letters made here, for the partner: waiting, or being sent.
    pub fn outgoing_dir(&self) -> PathBuf {
        self.root.join("out")
    }

    /// Letters that left this phone, until the journal takes them in.
    pub fn sent_dir(&self) -> PathBuf {
        self.root.join("sent")
    }

    /// Letters from the partner, still sealed, until the journal opens them.
    pub fn incoming_dir(&self) -> PathBuf {
        self.root.join("in")
    }

    pub fn waiting(&self, id: &str) -> PathBuf {
        self.outgoing_dir().join(format!("{id}.letter"))
    }

    pub fn sending(&self, id: &str) -> PathBuf {
        self.outgoing_dir().join(format!("{id}.sending"))
    }

    pub fn sent(&self, id: &str) -> PathBuf {
        self.sent_dir().join(id)
    }

    /// Makes the folders, readable by this user alone.
    pub fn make(&self) -> std::io::Result<()> {
        for dir in [self.root.clone(), self.outgoing_dir(), self.sent_dir(), self.incoming_dir()] {
            fs::create_dir_all(&dir)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` as the file `path`, whole or not at all, and on disk when this
    /// returns.
    pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Takes a letter back, or learns that it left. The rename is the decision: the
    /// courier takes a letter with a rename too, so exactly one of the two gets it.
    fn claim(&self, id: &str) -> Result<Claim, StoreError> {
        let withdrawn = self.outgoing_dir().join(format!("{id}.withdrawn"));
        match fs::rename(self.waiting(id), &withdrawn) {
            Ok(()) => {
                fs::remove_file(&withdrawn).map_err(mailbox_error)?;
                Ok(Claim::Withdrawn)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if self.left(id) {
                    Ok(Claim::Left)
                } else {
                    // Never put in place (the app stopped between the record and the
                    // file): it never left.
                    let _ = fs::remove_file(self.outgoing_dir().join(format!("{id}.tmp")));
                    Ok(Claim::Withdrawn)
                }
            }
            Err(e) => Err(mailbox_error(e)),
        }
    }

    /// Whether a letter left this phone, or is leaving it now.
    fn left(&self, id: &str) -> bool {
        self.sending(id).exists() || self.sent(id).exists()
    }

    /// The ids of the files in `dir` named `ID` + `suffix`.
    pub fn ids_in(dir: &Path, suffix: &str) -> Vec<String> {
        let Ok(read) = fs::read_dir(dir) else { return Vec::new() };
        read.filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(suffix)).map(str::to_owned))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect()
    }

    /// Forgets every letter, made or received: the pairing ended.
    pub fn empty(&self) -> std::io::Result<()> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn mailbox_error(e: std::io::Error) -> StoreError {
    StoreError::Io(std::io::Error::new(e.kind(), format!("the letters beside the journal: {e}")))
}

/// Writes changes as letters and their records hold them: a count, then each with its
/// length.
pub fn put_changes(out: &mut Vec<u8>, changes: &[Vec<u8>]) {
    out.extend((changes.len() as u32).to_be_bytes());
    for change in changes {
        out.extend((change.len() as u32).to_be_bytes());
        out.extend(change);
    }
}

/// Reads what [`put_changes`] (and a length before each piece) wrote; `None` where the
/// bytes run out.
pub struct Pieces<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Pieces<'a> {
    pub fn new(bytes: &'a [u8]) -> Pieces<'a> {
        Pieces { bytes, at: 0 }
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let piece = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(piece)
    }

    pub fn count(&mut self) -> Option<usize> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    pub fn changes(&mut self) -> Option<Vec<Vec<u8>>> {
        let n = self.count()?;
        let mut changes = Vec::new();
        for _ in 0..n {
            let len = self.count()?;
            changes.push(self.take(len)?.to_vec());
        }
        Some(changes)
    }

    pub fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

/// A letter made for the partner: its changes, and when it may leave.
pub struct Outgoing<'a> {
    pub changes: &'a [Vec<u8>],
    pub not_before: DateTime<Utc>,
}

/// What a letter's record keeps: the entries whose shares and changes it carries, and
/// its changes as this phone made them.
struct Record {
    entries: Vec<EntryId>,
    changes: Vec<Vec<u8>>,
}

impl Record {
    fn encode(&self) -> String {
        let mut bytes = Vec::new();
        bytes.extend((self.entries.len() as u32).to_be_bytes());
        for id in &self.entries {
            bytes.extend(id.as_uuid().as_bytes());
        }
        put_changes(&mut bytes, &self.changes);
        hex::encode(bytes)
    }

    fn decode(text: &str) -> Result<Record, StoreError> {
        let bad = || StoreError::corrupt("a letter's record is unreadable");
        let bytes = hex::decode(text).map_err(|_| bad())?;
        let mut pieces = Pieces::new(&bytes);
        let n = pieces.count().ok_or_else(bad)?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let id = uuid::Uuid::from_slice(pieces.take(16).ok_or_else(bad)?).map_err(|_| bad())?;
            entries.push(EntryId::from_uuid(id));
        }
        let changes = pieces.changes().ok_or_else(bad)?;
        Ok(Record { entries, changes })
    }
}

impl Store {
    /// The mailbox beside this journal.
    pub fn mailbox(&self) -> Mailbox {
        Mailbox::beside(&self.path)
    }

    /// Makes the letter for everything that waits in the outbox, for a courier to carry
    /// once its undo has ended: the letters made before are settled first, so one letter
    /// holds it all. `seal` turns the letter into the bytes of its file. Does nothing
    /// without a pairing, or with nothing waiting. Returns the letter's id.
    pub fn post_letter(
        &mut self,
        seal: &dyn Fn(&Outgoing) -> Result<Vec<u8>, String>,
    ) -> Result<Option<String>, StoreError> {
        self.refresh()?;
        if self.path.as_os_str() == ":memory:" || self.unopened.is_some() {
            return Ok(None);
        }
        let Some(me) = self.me.clone() else { return Ok(None) };
        let mailbox = self.mailbox();
        mailbox.make().map_err(mailbox_error)?;
        let made = self.writing(|w| {
            w.settle_letters()?;
            if !matches!(w.doc_state()?, DocState::Live) {
                return Ok(None);
            }
            let waiting = rows::outbox(&w.sql, None)?;
            let Some(not_before) = waiting.iter().map(|w| w.ready_at).max() else { return Ok(None) };
            let name_known = doc::people(w.doc)?.iter().any(|(id, name)| *id == me.id && *name == me.name);
            // Made on a copy: the journal's document takes the change only once the
            // letter has left.
            let mut copy = w.doc.fork();
            copy.set_actor(w.doc.get_actor().clone());
            let heads = copy.get_heads();
            let mut tx = copy.transaction();
            if !name_known {
                doc::write_person(&mut tx, me.id, &me.name)?;
            }
            super::outbox::write_waiting(&mut tx, &waiting)?;
            tx.commit();
            let changes: Vec<Vec<u8>> = copy.get_changes(&heads).iter().map(|c| c.raw_bytes().to_vec()).collect();
            let id = hex::encode(uuid::Uuid::new_v4().as_bytes());
            let record = Record { entries: waiting.iter().map(|w| w.id).collect(), changes };
            let sealed = seal(&Outgoing { changes: &record.changes, not_before })
                .map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
            set_meta(&w.sql, &format!("{RECORD}{id}"), &record.encode())?;
            // Written before the record commits, put in place after: a letter file
            // always has its record.
            let tmp = mailbox.outgoing_dir().join(format!("{id}.tmp"));
            let mut file = fs::File::create(&tmp).map_err(mailbox_error)?;
            file.write_all(&sealed).and_then(|()| file.sync_all()).map_err(mailbox_error)?;
            Ok(Some(id))
        })?;
        if let Some(id) = &made {
            let tmp = mailbox.outgoing_dir().join(format!("{id}.tmp"));
            fs::rename(&tmp, mailbox.waiting(id)).map_err(mailbox_error)?;
        }
        tidy_sent(&mailbox, &self.conn)?;
        Ok(made)
    }

    /// Takes the letters that left this phone into the shared document now, so their
    /// entries say "Shared". Those still waiting stay. Returns the entries that now count
    /// as sent.
    pub fn settle_letters(&mut self) -> Result<Vec<EntryId>, StoreError> {
        self.refresh()?;
        if self.unopened.is_some() || !self.has_letters()? {
            return Ok(Vec::new());
        }
        let sent = self.writing(|w| w.settle(false))?;
        tidy_sent(&self.mailbox(), &self.conn)?;
        Ok(sent)
    }

    /// Whether any letter made here is not settled yet.
    pub fn has_letters(&self) -> Result<bool, StoreError> {
        Ok(!letter_ids(&self.conn)?.is_empty())
    }

    /// Takes changes that came in a letter from the partner, with every check a sync
    /// message gets ([`Store::receive_sync_message`]). Changes the journal has already
    /// are nothing new: a letter is never applied twice.
    pub fn receive_letter(
        &mut self,
        changes: Vec<Vec<u8>>,
        partner: &PartnerRules,
        show: Option<&dyn Fn(Arrived)>,
    ) -> Result<Received, StoreError> {
        let message = sync::Message {
            heads: Vec::new(),
            need: Vec::new(),
            have: Vec::new(),
            changes: changes.into(),
            flags: None,
            version: sync::MessageVersion::V1,
        };
        self.receive_sync_message_showing(&mut sync::State::new(), message, partner, show)
    }
}

fn letter_ids(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT substr(key, ?2) FROM meta WHERE key LIKE ?1")?;
    let ids = stmt
        .query_map([format!("{RECORD}%"), (RECORD.len() + 1).to_string()], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ids)
}

impl Write<'_> {
    /// Settles every letter made here: withdraws those still waiting, and takes into the
    /// document those that left, as they left, with their entries out of the outbox.
    /// Every write that changes the outbox or the document runs this first. Returns the
    /// entries that now count as sent.
    pub fn settle_letters(&mut self) -> Result<Vec<EntryId>, StoreError> {
        self.settle(true)
    }

    /// Takes the letters that left into the document; `withdraw`, takes back those still
    /// waiting too.
    fn settle(&mut self, withdraw: bool) -> Result<Vec<EntryId>, StoreError> {
        let ids = letter_ids(&self.sql)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let Some(path) = self.sql.path().map(PathBuf::from) else { return Ok(Vec::new()) };
        let mailbox = Mailbox::beside(&path);
        let mut sent = Vec::new();
        for id in ids {
            let key = format!("{RECORD}{id}");
            let claim = if withdraw {
                mailbox.claim(&id)?
            } else if mailbox.left(&id) {
                Claim::Left
            } else if mailbox.waiting(&id).exists() || mailbox.outgoing_dir().join(format!("{id}.tmp")).exists() {
                // Waiting, or being put in place by the process that made it.
                continue;
            } else {
                Claim::Withdrawn
            };
            if claim == Claim::Left {
                let text = get_meta(&self.sql, &key)?.ok_or_else(|| StoreError::corrupt("a letter's record"))?;
                let record = Record::decode(&text)?;
                self.apply_own(&record.changes)?;
                for entry in &record.entries {
                    rows::delete(&self.sql, Table::Outbox, *entry)?;
                }
                sent.extend(record.entries);
            }
            self.sql.prepare_cached("DELETE FROM meta WHERE key = ?1")?.execute([&key])?;
        }
        Ok(sent)
    }

    /// Applies changes this phone made (a letter's) to the document, and writes them
    /// with the index rows of the entries they touched.
    fn apply_own(&mut self, changes: &[Vec<u8>]) -> Result<(), StoreError> {
        let heads = self.doc.get_heads();
        let parsed = changes
            .iter()
            .map(|c| automerge::Change::from_bytes(c.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StoreError::corrupt("a letter made on this phone can't be read"))?;
        self.doc.apply_changes(parsed)?;
        let new = self.doc.get_changes(&heads);
        if new.is_empty() {
            return Ok(());
        }
        let touched = Touched::by(self.doc, &new);
        chunks::append(&self.sql, &new, self.cursor)?;
        index::update(&self.sql, self.doc, &touched, &new, self.cursor.last_seq, self.opened)?;
        Ok(())
    }
}

/// Removes the files of letters the journal has taken in: a file in `sent` with no
/// record left. Run after a settle has committed.
pub fn tidy_sent(mailbox: &Mailbox, conn: &Connection) -> Result<(), StoreError> {
    let known: HashSet<String> = letter_ids(conn)?.into_iter().collect();
    for id in Mailbox::ids_in(&mailbox.sent_dir(), "") {
        if !known.contains(&id) {
            let _ = fs::remove_file(mailbox.sent(&id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written_and_junk_is_refused_in_words() {
        let record = Record { entries: vec![EntryId::new(), EntryId::new()], changes: vec![vec![1, 2, 3], vec![]] };
        let back = Record::decode(&record.encode()).unwrap();
        assert_eq!(back.entries, record.entries);
        assert_eq!(back.changes, record.changes);
        for junk in ["zz", "00000001", &record.encode()[..20]] {
            let e = Record::decode(junk).err().expect("refused");
            assert!(e.to_string().contains("letter"), "{e}");
        }
    }
}
