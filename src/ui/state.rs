//! What the window knows of the journal, and every action a person can take on it. Views
//! call these methods and never touch the store themselves. Each action either succeeds
//! and updates the entry it touched in the lists, or returns a message to show, leaving
//! the lists as they were.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{Local, NaiveDate};

use crate::model::{AgreementStatus, Body, Draft, Entry, EntryId, Outcome, Person, PersonId, Practice};
use crate::store::{Store, UNDO_WINDOW};

/// The setting that remembers which move of the partner's this person has read about.
const MOVED_SEEN: &str = "partner_moved_seen";

/// The journal as the window shows it.
pub struct Journal {
    store: Store,
    /// The data key this window unlocked with, for the sync node's own connection;
    /// `None` for a journal handed in by a test.
    key: Option<crate::vault::DataKey>,
    pub me: Option<Person>,
    /// Every entry, newest first.
    pub entries: Vec<Entry>,
    pub names: HashMap<PersonId, String>,
    /// Whether this person has been told once what sharing means.
    pub sharing_explained: bool,
    /// When each entry was shared in this window, for its "Undo".
    shared_at: HashMap<EntryId, Instant>,
}

const SHARING_EXPLAINED: &str = "ui.sharing_explained";
const LOCK_GRACE: &str = "ui.lock_grace_secs";
use crate::net::courier::DISCOVERY_OFF;

impl Journal {
    /// Opens the journal in `dir` with its data key and reads everything the first
    /// screen needs.
    pub fn open(dir: &Path, key: &crate::vault::DataKey) -> Result<Journal, String> {
        let (mut store, entries) = Store::open_dir_with_entries(dir, key).map_err(|e| e.to_string())?;
        // Letters that came while the journal was locked are opened now, with every
        // check a sync gets, and go into the lists like anything else that arrived.
        let opened = crate::net::letters::open_waiting(&mut store, None);
        let entries = match opened {
            Ok(opened) if opened.entries.is_empty() => entries,
            Ok(_) => store.entries().map_err(|e| e.to_string())?,
            Err(e) => {
                tracing::warn!("letters could not be opened this time: {e}");
                entries
            }
        };
        let mut journal = Journal::from_store(store, entries)?;
        journal.key = Some(key.clone());
        journal.keep_courier_profile();
        Ok(journal)
    }

    /// The folder the journal is in (none for a journal in memory).
    pub fn data_dir(&self) -> Option<std::path::PathBuf> {
        let dir = self.store.path().parent()?;
        (!dir.as_os_str().is_empty()).then(|| dir.to_path_buf())
    }

    /// Writes what the courier needs to carry letters while the journal is locked.
    pub fn keep_courier_profile(&self) {
        if let Err(e) = crate::net::courier::keep_profile(&self.store) {
            tracing::warn!("the courier's profile could not be written: {e}");
        }
    }

    /// Seals what waits to be sent into a letter for the courier; the change itself is
    /// saved already, and goes at the next sync if no letter can be made.
    fn post_letter(&mut self) {
        if let Err(e) = crate::net::letters::post(&mut self.store) {
            tracing::warn!("no letter could be made: {e}");
        }
    }

    /// Whether this journal opens with a passcode (so the app locks).
    pub fn has_passcode(&self) -> bool {
        let dir = self.store.path().parent().unwrap_or(Path::new(""));
        !dir.as_os_str().is_empty()
            && matches!(crate::vault::Vault::at(dir).state(), Ok(crate::vault::LockState::Passcode))
    }

    /// How long the app may be in the background before it locks.
    pub fn lock_grace(&self) -> Duration {
        match self.store.setting(LOCK_GRACE) {
            Ok(Some(secs)) => secs.parse().map(Duration::from_secs).unwrap_or(crate::ui::lock::DEFAULT_GRACE),
            _ => crate::ui::lock::DEFAULT_GRACE,
        }
    }

    pub fn set_lock_grace(&mut self, grace: Duration) -> Result<(), String> {
        self.store.set_setting(LOCK_GRACE, &grace.as_secs().to_string()).map_err(|e| e.to_string())
    }

    /// The sync node's own connection to this journal: the node lives on a thread of
    /// its own, and the two never share a `Store`.
    pub fn node_store(&self) -> Result<Store, String> {
        let key = self.key.as_ref().ok_or("This journal was opened without a key to share.")?;
        let dir = self.store.path().parent().ok_or("This journal has no folder.")?;
        Store::open_dir(dir, key).map_err(|e| e.to_string())
    }

    /// Wraps an open store, for tests.
    pub fn from_store(mut store: Store, entries: Vec<Entry>) -> Result<Journal, String> {
        let names = store.people().map_err(|e| e.to_string())?.into_iter().collect();
        let sharing_explained = store.setting(SHARING_EXPLAINED).map_err(|e| e.to_string())?.is_some();
        Ok(Journal {
            me: store.me().cloned(),
            store,
            key: None,
            entries,
            names,
            sharing_explained,
            shared_at: HashMap::new(),
        })
    }

    fn refresh(&mut self) -> Result<(), String> {
        self.entries = self.store.entries().map_err(|e| e.to_string())?;
        self.names = self.store.people().map_err(|e| e.to_string())?.into_iter().collect();
        self.me = self.store.me().cloned();
        Ok(())
    }

    fn after<T>(&mut self, result: Result<T, crate::store::StoreError>) -> Result<T, String> {
        let value = result.map_err(|e| e.to_string())?;
        self.refresh()?;
        Ok(value)
    }

    /// After an action on one entry: that entry alone is read again and put in its place
    /// in the list, so an action costs the same at ten entries or ten thousand.
    fn after_entry<T>(&mut self, id: EntryId, result: Result<T, crate::store::StoreError>) -> Result<T, String> {
        let value = result.map_err(|e| e.to_string())?;
        match self.store.get(id) {
            Ok(entry) => self.put(entry),
            Err(crate::store::StoreError::NotFound(_)) => self.entries.retain(|e| e.id != id),
            // The action is done; the list is read whole rather than left unsure.
            Err(_) => self.refresh()?,
        }
        Ok(value)
    }

    /// Puts `entry` in the list, newest first as the store lists them, in place of the
    /// one with its id.
    fn put(&mut self, entry: Entry) {
        if let Some(at) = self.entries.iter().position(|e| e.id == entry.id) {
            // The list is in the order entries were made: a changed entry keeps its place,
            // and the thousands after it stay where they are.
            if self.entries[at].created_at == entry.created_at {
                self.entries[at] = entry;
                return;
            }
            self.entries.remove(at);
        }
        let at = self.entries.partition_point(|e| Entry::newest_first(e, &entry).is_lt());
        self.entries.insert(at, entry);
    }

    pub fn today() -> NaiveDate {
        Local::now().date_naive()
    }

    pub fn name_of(&self, id: PersonId) -> String {
        if self.me.as_ref().is_some_and(|m| m.id == id) {
            return "You".into();
        }
        self.names.get(&id).cloned().unwrap_or_else(|| "Your partner".into())
    }

    pub fn is_mine(&self, e: &Entry) -> bool {
        self.me.as_ref().is_some_and(|m| m.id == e.author)
    }

    /// Entries of one practice that are in the daily views (not set aside).
    pub fn active(&self, practice: Practice) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| !e.archived && e.body.practice() == Some(practice))
    }

    /// Everything set aside, newest first.
    pub fn set_aside(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.archived)
    }

    /// My check-in for today, if written.
    pub fn my_check_in_today(&self) -> Option<&Entry> {
        let today = Journal::today();
        self.entries
            .iter()
            .find(|e| self.is_mine(e) && matches!(e.body, Body::DailyCheckIn { date, .. } if date == today))
    }

    /// What was written today, by either partner (once shared), not counting set-aside.
    pub fn written_today(&self) -> impl Iterator<Item = &Entry> {
        let today = Journal::today();
        self.entries.iter().filter(move |e| !e.archived && e.created_at.with_timezone(&Local).date_naive() == today)
    }

    // ----- Actions -----

    pub fn set_name(&mut self, name: &str) -> Result<(), String> {
        let r = self.store.init(name).map(|_| ());
        self.after(r)
    }

    pub fn add(&mut self, draft: Draft) -> Result<EntryId, String> {
        let r = self.store.add(draft).map(|e| e.id);
        match r {
            Ok(id) => self.after_entry(id, Ok(id)),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn edit(&mut self, id: EntryId, draft: Draft) -> Result<(), String> {
        let r = self.store.edit(id, draft).map(|_| ());
        self.after_entry(id, r)?;
        self.post_letter();
        Ok(())
    }

    /// Shares one of my entries. It stays on this phone for [`UNDO_WINDOW`] at least, so
    /// "Undo" takes it back before it can leave, even with the partner connected.
    pub fn share(&mut self, id: EntryId) -> Result<(), String> {
        let r = self.store.share_after(id, UNDO_WINDOW).map(|_| ());
        self.after_entry(id, r)?;
        self.post_letter();
        self.shared_at.insert(id, Instant::now());
        if !self.sharing_explained {
            self.store.set_setting(SHARING_EXPLAINED, "yes").map_err(|e| e.to_string())?;
            self.sharing_explained = true;
        }
        Ok(())
    }

    /// Makes one of my entries private again, and says plainly whether the partner's
    /// phone already has a copy.
    pub fn unshare(&mut self, id: EntryId) -> Result<String, String> {
        let r = self.store.unshare(id);
        let unshared = self.after_entry(id, r)?;
        self.shared_at.remove(&id);
        self.post_letter();
        Ok(unshared.explain().to_owned())
    }

    /// How long "Undo" is still offered for an entry I just shared.
    pub fn undo_left(&self, id: EntryId) -> Option<Duration> {
        let at = self.shared_at.get(&id)?;
        UNDO_WINDOW.checked_sub(at.elapsed()).filter(|left| !left.is_zero())
    }

    pub fn archive(&mut self, id: EntryId) -> Result<(), String> {
        let r = self.store.archive(id).map(|_| ());
        self.after_entry(id, r)
    }

    pub fn restore(&mut self, id: EntryId) -> Result<(), String> {
        let r = self.store.restore(id).map(|_| ());
        self.after_entry(id, r)
    }

    pub fn check_in(&mut self, id: EntryId, outcome: Outcome, note: Option<&str>) -> Result<(), String> {
        let r = self.store.check_in(id, outcome, note).map(|_| ());
        self.after_entry(id, r)?;
        self.post_letter();
        Ok(())
    }

    pub fn set_agreement_status(&mut self, id: EntryId, status: AgreementStatus) -> Result<(), String> {
        let r = self.store.set_agreement_status(id, status).map(|_| ());
        self.after_entry(id, r)?;
        self.post_letter();
        Ok(())
    }

    /// Reads the lists again, whole.
    pub fn reload(&mut self) -> Result<(), String> {
        self.refresh()
    }

    /// Puts what the partner's phone changed in the lists: only those entries, as the
    /// sync node read them the moment they were applied. They are moved in, not copied,
    /// when nothing else holds them (the node's channel lets go of what each of its
    /// listeners has received): an agreement comes with all its check-ins.
    pub fn show_arrived(&mut self, arrived: std::sync::Arc<crate::net::sync::Arrived>) -> Result<(), String> {
        let arrived = std::sync::Arc::try_unwrap(arrived).unwrap_or_else(|shared| (*shared).clone());
        if arrived.whole {
            return self.refresh();
        }
        for entry in arrived.entries {
            self.put(entry);
        }
        for id in &arrived.gone {
            self.entries.retain(|e| e.id != *id);
        }
        if arrived.names {
            self.names = self.store.people().map_err(|e| e.to_string())?.into_iter().collect();
        }
        Ok(())
    }

    /// Where sync stands, from this phone's settings alone.
    pub fn net_status(&self) -> Result<crate::net::NetStatus, String> {
        crate::net::NetStatus::at_rest(&self.store).map_err(|e| e.to_string())
    }

    /// The one line the window shows after the partner moved Steady to a new phone, until
    /// this person dismisses it: who, and on which day, nothing more.
    pub fn partner_moved_line(&self) -> Option<String> {
        let partner = crate::net::peers::partner(&self.store).ok()??;
        let (at, restored) = crate::net::peers::partner_moved(&self.store, &partner)?;
        let seen = self.store.setting(MOVED_SEEN).ok().flatten();
        if seen.as_deref() == Some(at.to_rfc3339().as_str()) {
            return None;
        }
        let name = self.name_of(partner.person);
        let on = at.with_timezone(&chrono::Local).date_naive();
        Some(crate::model::text::partner_moved_line(&name, on, restored))
    }

    /// The person has read the line about the partner's move: it is not shown again,
    /// until a later move.
    pub fn saw_partner_moved(&mut self) -> Result<(), String> {
        let Some(partner) = crate::net::peers::partner(&self.store).map_err(|e| e.to_string())? else { return Ok(()) };
        let Some((at, _)) = crate::net::peers::partner_moved(&self.store, &partner) else { return Ok(()) };
        self.store.set_setting(MOVED_SEEN, &at.to_rfc3339()).map_err(|e| e.to_string())
    }

    /// Restores a backup (an export, read whole already) into `dir`, which holds no
    /// journal: a new data key under `passcode` (or none), the entries imported as
    /// `import` does, and the journal opened. Whatever was made is removed again if any
    /// step fails, so a failed restore leaves the folder as it was.
    pub fn restore_backup(
        dir: &Path,
        backup: crate::export::Journal,
        passcode: Option<&str>,
    ) -> Result<Journal, String> {
        let vault = crate::vault::Vault::at(dir);
        if vault.state().map_err(|e| e.to_string())? != crate::vault::LockState::New {
            return Err("Steady is already set up on this phone: a backup is restored only into an empty one.".into());
        }
        let restored = vault.set_up(passcode).map_err(|e| e.to_string()).and_then(|key| {
            let mut store = Store::open_dir(dir, &key).map_err(|e| e.to_string())?;
            store.import(backup.person, &backup.people, &backup.entries).map_err(|e| e.to_string())?;
            drop(store);
            Journal::open(dir, &key)
        });
        if restored.is_err() {
            for name in [crate::vault::KEY_FILE, crate::vault::DB_FILE] {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("{name}{suffix}")));
                }
            }
        }
        restored
    }

    /// The journal's data key, for a move to a new phone.
    pub fn data_key(&self) -> Option<crate::vault::DataKey> {
        self.key.clone()
    }

    /// Whether this phone looks for the partner's with mDNS (the switch on the Us screen).
    pub fn discovery_on(&self) -> bool {
        !matches!(self.store.setting(DISCOVERY_OFF), Ok(Some(_)))
    }

    pub fn set_discovery(&mut self, on: bool) -> Result<(), String> {
        let r =
            if on { self.store.remove_setting(DISCOVERY_OFF) } else { self.store.set_setting(DISCOVERY_OFF, "yes") };
        r.map_err(|e| e.to_string())?;
        self.keep_courier_profile();
        Ok(())
    }

    /// When the phone's background service carries letters: `always`, `charging` or `off`.
    pub fn background_mode(&self) -> String {
        let modes = crate::net::courier::BACKGROUND_MODES;
        self.store
            .setting(crate::net::courier::BACKGROUND)
            .ok()
            .flatten()
            .filter(|m| modes.contains(&m.as_str()))
            .unwrap_or_else(|| modes[0].to_owned())
    }

    pub fn set_background_mode(&mut self, mode: &str) -> Result<(), String> {
        if !crate::net::courier::BACKGROUND_MODES.contains(&mode) {
            return Err(format!("{mode:?} is not a choice here"));
        }
        self.store.set_setting(crate::net::courier::BACKGROUND, mode).map_err(|e| e.to_string())?;
        self.keep_courier_profile();
        Ok(())
    }

    /// The couple's home relays.
    pub fn relays(&self) -> Vec<crate::net::relay::RelayEntry> {
        crate::net::relay::Known::read(&self.store).map(|k| k.relays).unwrap_or_default()
    }

    /// What this phone speaks to relays with, to add one away from the window's thread.
    pub fn relay_secret(&self) -> Result<(crate::net::daily::DailySecret, crate::net::pairing::Role), String> {
        crate::net::relay::couple_secret(&self.store).map_err(|e| e.to_string())
    }

    /// Files a relay just added, and tells the partner's phone.
    pub fn relay_added(&mut self, entry: &crate::net::relay::RelayEntry) -> Result<(), String> {
        crate::net::relay::record_added(&mut self.store, entry).map_err(|e| e.to_string())
    }

    /// Removes one of the couple's relays here and tells the partner's phone; the relay
    /// itself is told away from the window's thread.
    pub fn remove_relay(&mut self, id: &str) -> Result<(), String> {
        let (secret, role) = self.relay_secret()?;
        let gone = crate::net::relay::record_removed(&mut self.store, id).map_err(|e| e.to_string())?;
        std::thread::spawn(move || {
            let told = crate::net::relay::relay_key(&secret, role).and_then(|mine| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| crate::net::NetError::Start(e.to_string()))?;
                runtime.block_on(async {
                    tokio::time::timeout(std::time::Duration::from_secs(5), crate::net::relay::forget(mine, &gone))
                        .await
                        .map_err(|_| crate::net::NetError::Start("the relay did not answer".into()))?
                })
            });
            if let Err(e) = told {
                tracing::info!("the removed relay was not told: {e}");
            }
        });
        Ok(())
    }

    /// Stops or restarts sync with the partner; their phone is not told.
    pub fn set_sync_paused(&mut self, paused: bool) -> Result<(), String> {
        crate::net::peers::set_paused(&mut self.store, paused).map_err(|e| e.to_string())?;
        self.keep_courier_profile();
        Ok(())
    }

    /// Ends the pairing on this phone. My shared entries become private again (marked as
    /// shared before), the partner's stay here apart, read-only, and the next pairing
    /// starts from nothing shared. Their phone is not told.
    pub fn unpair(&mut self) -> Result<(), String> {
        let dir = self.data_dir();
        let profile = dir.as_deref().and_then(|d| crate::net::courier::read_profile(d).ok());
        crate::net::peers::unpair(&mut self.store).map_err(|e| e.to_string())?;
        // The couple's relays are told at once, without holding up the screen.
        if let Some(profile) = profile.filter(|p| !p.relays.is_empty()) {
            std::thread::spawn(move || crate::net::relay::forget_all(&profile));
        }
        self.refresh()
    }

    /// Writes an export of the whole journal to `path`: encrypted with age to
    /// `passphrase` (the name then ends in .age), or in the clear with `None`. Returns
    /// where it was written.
    pub fn export(
        &mut self,
        format: crate::export::file::Format,
        path: &Path,
        passphrase: Option<&str>,
    ) -> Result<std::path::PathBuf, String> {
        crate::export::file::write(&mut self.store, format, path, passphrase).map_err(|e| e.to_string())
    }

    /// Locks the journal with a new passcode: `current` must open it first, when it has
    /// one. The journal is sealed again under a new data key, so an old copy of the key
    /// file opens nothing; the sync node must then start again with the new key
    /// (`Action::KeyChanged`).
    pub fn set_passcode(&mut self, current: Option<&str>, new: &str) -> Result<(), String> {
        let vault = self.vault()?;
        if self.key.is_none() {
            return Err("This journal has no key to lock.".into());
        }
        if let Some(current) = current {
            vault.unlock(current).map_err(|e| e.to_string())?;
        }
        let key = self.store.change_passcode(&vault, Some(new)).map_err(|e| e.to_string())?;
        self.key = Some(key);
        Ok(())
    }

    /// Keeps the journal's key without a passcode from now on, under a new data key.
    pub fn remove_passcode(&mut self, current: &str) -> Result<(), String> {
        let vault = self.vault()?;
        vault.unlock(current).map_err(|e| e.to_string())?;
        let key = self.store.change_passcode(&vault, None).map_err(|e| e.to_string())?;
        self.key = Some(key);
        Ok(())
    }

    fn vault(&self) -> Result<crate::vault::Vault, String> {
        match self.store.path().parent() {
            Some(dir) if !dir.as_os_str().is_empty() => Ok(crate::vault::Vault::at(dir)),
            _ => Err("This journal has no folder to lock.".into()),
        }
    }
}

/// The pairing and the past pairings, as the Us screen shows them.
impl Journal {
    /// The words of a pairing not yet confirmed on this phone, to check again.
    pub fn unconfirmed_words(&self) -> Option<Vec<String>> {
        match crate::net::peers::partner(&self.store) {
            Ok(Some(p)) if !p.confirmed => Some(p.safety_words),
            _ => None,
        }
    }

    /// "They match": from now on this phone syncs with the partner, once their phone
    /// has confirmed too.
    pub fn confirm_pairing(&mut self) -> Result<(), String> {
        crate::net::peers::confirm(&mut self.store).map_err(|e| e.to_string())?;
        self.keep_courier_profile();
        Ok(())
    }

    /// "They don't match": forgets the pairing on this phone, with no word to the other
    /// phone. Nothing was exchanged.
    pub fn reject_pairing(&mut self) -> Result<(), String> {
        crate::net::peers::reject(&mut self.store).map_err(|e| e.to_string())?;
        self.refresh()
    }

    /// The shared documents of pairings that have ended, newest first.
    pub fn past_pairings(&self) -> Result<Vec<crate::store::PastDocument>, String> {
        self.store.past_documents().map_err(|e| e.to_string())
    }

    /// What the partner wrote in a past pairing, read-only.
    pub fn past_entries(&self, id: i64) -> Result<Vec<Entry>, String> {
        self.store.past_entries(id).map_err(|e| e.to_string())
    }

    /// Writes a past pairing's document, as Automerge bytes any Automerge program reads,
    /// into `dir`. Returns the file's path.
    pub fn export_past(&self, id: i64, dir: &Path) -> Result<std::path::PathBuf, String> {
        let past = self.past_pairings()?.into_iter().find(|p| p.id == id).ok_or("That past pairing is gone.")?;
        let bytes = self.store.past_document_bytes(id).map_err(|e| e.to_string())?;
        let name: String =
            past.partner.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        let day = past.ended_at.with_timezone(&Local).format("%Y-%m-%d");
        let path = dir.join(format!("steady-time-with-{}-{day}.automerge", name.trim_matches('-')));
        crate::vault::write_private_file(&path, &bytes)
            .map_err(|e| format!("Could not save {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Deletes a past pairing's document for good; its text does not stay in the file.
    pub fn delete_past(&mut self, id: i64) -> Result<(), String> {
        self.store.delete_past_document(id).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SafetySide;

    /// Each action updates only the entry it touched; the list must come out exactly as
    /// reading it whole would give it, order included.
    #[test]
    fn each_action_leaves_the_list_as_reading_it_whole_would() {
        let mut store = Store::open_in_memory().unwrap();
        store.init("Alex").unwrap();
        store.start_couple("0123456789abcdef0123456789abcdef", "Sam").unwrap();
        let entries = store.entries().unwrap();
        let mut j = Journal::from_store(store, entries).unwrap();
        let same_as_whole = |j: &mut Journal, what: &str| {
            let updated = j.entries.clone();
            j.reload().unwrap();
            assert_eq!(updated, j.entries, "after {what}");
        };
        let agreement = j.add(Draft::Agreement { text: "Call if late".into() }).unwrap();
        same_as_whole(&mut j, "an add");
        let need = j.add(Draft::SafetyNeed { side: SafetySide::Helps, text: "Plans early".into() }).unwrap();
        let today = j.add(Draft::CheckIn { text: "Calm".into() }).unwrap();
        same_as_whole(&mut j, "more adds");
        assert_eq!(j.add(Draft::CheckIn { text: "Calmer".into() }).unwrap(), today, "today's check-in is edited");
        same_as_whole(&mut j, "today's check-in written again");
        j.edit(need, Draft::SafetyNeed { side: SafetySide::Harder, text: "Silence".into() }).unwrap();
        same_as_whole(&mut j, "an edit");
        j.share(agreement).unwrap();
        same_as_whole(&mut j, "a share");
        j.check_in(agreement, Outcome::Kept, Some("Thank you")).unwrap();
        same_as_whole(&mut j, "a check-in");
        j.set_agreement_status(agreement, AgreementStatus::Retired).unwrap();
        same_as_whole(&mut j, "a retired agreement");
        j.archive(need).unwrap();
        same_as_whole(&mut j, "setting aside");
        j.restore(need).unwrap();
        same_as_whole(&mut j, "a restore");
        j.unshare(agreement).unwrap();
        same_as_whole(&mut j, "an unshare");
        assert_eq!(j.entries.len(), 3);
        assert!(j.edit(EntryId::new(), Draft::CheckIn { text: "x".into() }).is_err());
        same_as_whole(&mut j, "a failed edit");
    }

    /// What arrived from the partner's phone is put in the lists as the node read it;
    /// what left is taken out; "whole" reads the lists again.
    #[test]
    fn what_arrived_goes_into_the_lists_and_what_left_goes_out() {
        use crate::net::sync::Arrived;
        let mut store = Store::open_in_memory().unwrap();
        store.init("Alex").unwrap();
        let entries = store.entries().unwrap();
        let mut j = Journal::from_store(store, entries).unwrap();
        let kept = j.add(Draft::CheckIn { text: "Calm".into() }).unwrap();
        let left = j.add(Draft::Agreement { text: "Call if late".into() }).unwrap();
        let theirs = Entry::create(
            Draft::Transparency { text: "Out with Sam tonight".into(), window: None },
            PersonId::new(),
            chrono::Utc::now(),
            Journal::today(),
        )
        .unwrap();
        let arrived = Arrived { entries: vec![theirs.clone()], gone: vec![left], ..Arrived::default() };
        j.show_arrived(std::sync::Arc::new(arrived)).unwrap();
        let ids: Vec<EntryId> = j.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![theirs.id, kept], "newest first, the one that left gone");
        j.show_arrived(std::sync::Arc::new(Arrived { whole: true, ..Arrived::default() })).unwrap();
        let ids: Vec<EntryId> = j.entries.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![left, kept], "read whole, the lists are the journal's again");
    }
}
