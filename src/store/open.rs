//! Opening the journal: checking the file before SQLite touches it, the key, the
//! migrations (sealing in place a journal from before encryption), loading the shared
//! document while the lists are read, and the upgrade of a shared document from before
//! pairings had their own.

use super::*;

impl Store {
    /// Opens the journal in `dir` with its data key (from `vault`), creating the
    /// directory and the file on first use. A journal written before encryption is
    /// encrypted in place, in one transaction, with this key.
    pub fn open_dir(dir: &Path, key: &DataKey) -> Result<Store, StoreError> {
        make_dir(dir)?;
        Store::open(&dir.join(DB_FILE), key)
    }

    /// Opens the journal in `dir` kept without a passcode, setting up its key first if
    /// the directory has none: for tests, benchmarks and tools. A journal with a
    /// passcode is refused as locked.
    pub fn open_dir_without_passcode(dir: &Path) -> Result<Store, StoreError> {
        let key = crate::vault::open_without_passcode(dir).map_err(|e| StoreError::Locked(e.to_string()))?;
        Store::open_dir(dir, &key)
    }

    /// Checks, without writing anything, that the file in `dir` is a journal of Steady
    /// from before encryption, whole and readable: what `vault` sees as unencrypted is
    /// only encrypted once this passes.
    pub fn check_earlier_version(dir: &Path) -> Result<(), StoreError> {
        let path = dir.join(DB_FILE);
        if !check_file(&path)? {
            return Ok(());
        }
        let mut uri = std::ffi::OsString::from("file:");
        uri.push(path.as_os_str());
        uri.push("?immutable=1");
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(std::path::Path::new(&uri), flags).map_err(|e| damage_or(e, &path))?;
        let checked = (|| {
            let version = schema::version(&conn)?;
            if version > schema::CURRENT {
                return Err(StoreError::TooNew { path: path.clone(), found: version, supported: schema::CURRENT });
            }
            let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if version == 0 && tables > 0 {
                return Err(StoreError::corrupt("it is an SQLite file, but not one of Steady's"));
            }
            conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)).and_then(|r| {
                if r == "ok" {
                    Ok(())
                } else {
                    Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(11), Some(r)))
                }
            })?;
            Ok(())
        })();
        checked.map_err(|e| match e {
            StoreError::Sqlite(e) => damage_or(e, &path),
            other => other.at(&path),
        })
    }

    /// Opens the journal file at `path`. A damaged file is reported and left unchanged.
    pub fn open(path: &Path, key: &DataKey) -> Result<Store, StoreError> {
        Store::open_then(path, key, |_| Ok(())).map(|(store, ())| store)
    }

    /// Opens the journal in `dir` and lists every entry, as the app does at launch. The
    /// private entries are read while the shared document loads on another core.
    pub fn open_dir_with_entries(dir: &Path, key: &DataKey) -> Result<(Store, Vec<Entry>), StoreError> {
        make_dir(dir)?;
        let (store, listed) = Store::open_then(&dir.join(DB_FILE), key, |conn| {
            // The index is only trusted when it reflects every chunk row; otherwise setup
            // rebuilds it from the document and the list is read afresh below.
            if index::is_current(conn)? { list(conn, key).map(Some) } else { Ok(None) }
        })?;
        let entries = match listed {
            Some(entries) => entries,
            None => list(&store.conn, key)?,
        };
        Ok((store, entries))
    }

    /// Opens `path`, running `meanwhile` on the file's connection while the shared
    /// document loads. `meanwhile` only runs on a journal that has its tables.
    fn open_then<T: Default>(
        path: &Path,
        key: &DataKey,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        let has_data = check_file(path)?;
        create_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| damage_or(e, path))?;
        sealed::install(&conn, key)?;
        let opened = Store::setup(conn, key, path.to_owned(), has_data, meanwhile);
        keep_private(path);
        opened.map_err(|e| match e {
            StoreError::Sqlite(e) => damage_or(e, path),
            other => other.at(path),
        })
    }

    /// A journal that lives only in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        let key = DataKey::random();
        sealed::install(&conn, &key)?;
        Store::setup(conn, &key, PathBuf::from(":memory:"), false, |_| Ok(())).map(|(s, ())| s)
    }

    fn setup<T: Default>(
        mut conn: Connection,
        key: &DataKey,
        path: PathBuf,
        has_data: bool,
        meanwhile: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(Store, T), StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // Reads first: a damaged or foreign file must fail here, before anything is written.
        let mut version = schema::version(&conn)?;
        if version > schema::CURRENT {
            return Err(StoreError::TooNew { path, found: version, supported: schema::CURRENT });
        }
        if version == 0 && has_data {
            let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if tables > 0 {
                return Err(StoreError::corrupt("it is an SQLite file, but not one of Steady's"));
            }
        }
        if version > 0 && version < schema::SEALED {
            // A journal from before encryption: sealed in place, in one transaction, so
            // that a crash leaves it whole as it was or whole and sealed. What it held in
            // the clear is then overwritten (`secure_delete`), and the file rewritten.
            set_pragmas(&conn)?;
            schema::migrate(&mut conn, version, |tx| set_meta(tx, KEY_CHECK, KEY_CHECK))?;
            conn.execute_batch("VACUUM")?;
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            version = schema::CURRENT;
        }
        if version > 0 {
            check_key(&conn, &path)?;
        }
        let mut doc = Automerge::new();
        let mut cursor = ChunkCursor::default();
        let mut extra = T::default();
        // A document too big to open is left on disk unread (`MAX_OPENED`).
        let unopened = if version > 0 { chunks::too_big_to_open(&conn)? } else { None };
        let mut meanwhile = Some(meanwhile);
        if unopened.is_some()
            && version == schema::CURRENT
            && let Some(meanwhile) = meanwhile.take()
        {
            extra = meanwhile(&conn)?;
        }
        if version > 0 && unopened.is_none() {
            let rows = chunks::read_rows(&conn, 0)?;
            let (loaded, other) = std::thread::scope(|scope| {
                let loading = scope.spawn(|| {
                    let mut doc = Automerge::new();
                    let mut cursor = ChunkCursor::default();
                    chunks::apply_rows(rows, &mut doc, &mut cursor).map(|()| (doc, cursor))
                });
                // An older schema lacks tables the lists read; it is listed after migrating.
                let other = match meanwhile.take() {
                    Some(meanwhile) if version == schema::CURRENT => meanwhile(&conn),
                    _ => Ok(T::default()),
                };
                let loaded = loading
                    .join()
                    .unwrap_or_else(|_| Err(StoreError::corrupt("the shared document could not be loaded")));
                (loaded, other)
            });
            (doc, cursor) = loaded?;
            extra = other?;
        }
        set_pragmas(&conn)?;
        if version < schema::CURRENT {
            schema::migrate(&mut conn, version, |tx| set_meta(tx, KEY_CHECK, KEY_CHECK))?;
        }
        let actor = ensure_actor(&conn)?;
        if unopened.is_none() && doc.get_heads().is_empty() {
            // A new journal, or one whose first start was cut short: write the genesis.
            doc = doc::genesis();
            let tx = conn.transaction()?;
            chunks::append(&tx, &doc.get_changes(&[]), &mut cursor)?;
            tx.commit()?;
        }
        if unopened.is_none() && !index::is_current(&conn)? {
            // Looked at again with the file held, the document caught up first: another
            // process (the node) may have written since this one read the document, and
            // an index rebuilt from an older document would hide what it wrote.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            chunks::catch_up(&tx, &mut doc, &mut cursor).map_err(|e| e.at(&path))?;
            if !index::is_current(&tx)? {
                index::rebuild(&tx, &doc, cursor.last_seq)?;
            }
            tx.commit()?;
        }
        doc.set_actor(actor);
        let me = read_me(&conn)?;
        let generation = get_meta(&conn, GENERATION)?.unwrap_or_default();
        let key_id = get_meta(&conn, crate::vault::KEY_ID)?;
        let mut store = Store {
            conn,
            key: key.clone(),
            path,
            doc,
            cursor,
            generation,
            me,
            clock: Box::new(Utc::now),
            fail_at: None,
            held_back: 0,
            partner_quota: PARTNER_QUOTA,
            unopened,
            opened: Default::default(),
            name_in_doc: None,
            seen_version: None,
            key_id,
        };
        if unopened.is_none() && get_meta(&store.conn, UPGRADE_DOCUMENT)?.is_some() {
            // Asked for by the migration; done again after a crash part way, since both
            // steps find nothing left to do the second time.
            store.upgrade_shared_document()?;
            store.writing(|w| {
                w.sql.execute("DELETE FROM meta WHERE key = ?1", [UPGRADE_DOCUMENT])?;
                Ok(())
            })?;
        }
        Ok((store, extra))
    }

    /// A journal from before sharing waited for the partner: whatever its shared document
    /// holds was shared under rules that no longer hold (no confirmed words, no couple of
    /// its own). If it holds anything of a partner's, or this phone was paired, it becomes
    /// the document of a pairing that has ended, and the pairing is made again. Otherwise
    /// nobody ever received it, and my shared entries wait to be shared, as they would now.
    pub(super) fn upgrade_shared_document(&mut self) -> Result<(), StoreError> {
        if self.doc.get_heads() == doc::genesis().get_heads() {
            return Ok(());
        }
        let me = self.me.as_ref().map(|p| p.id);
        let people = doc::people(&self.doc)?;
        let partner_name = people.iter().find(|(id, _)| Some(*id) != me).map(|(_, n)| n.clone());
        let others_wrote = doc::entry_ids(&self.doc)?
            .iter()
            .any(|(id, obj)| doc::read_entry(&self.doc, *id, obj).map(|e| Some(e.author) != me).unwrap_or(true));
        let was_paired = get_meta(&self.conn, "setting.net.partner")?.is_some();
        if others_wrote || was_paired || partner_name.is_some() {
            self.retire_document(Some(partner_name.as_deref().unwrap_or("your partner")))
        } else {
            self.retire_document(None)
        }
    }
}

fn make_dir(dir: &Path) -> Result<(), StoreError> {
    crate::vault::make_private_dir(dir).map_err(|e| match e {
        crate::vault::VaultError::Io { source, .. } => StoreError::DataDir { path: dir.to_owned(), source },
        other => StoreError::DataDir { path: dir.to_owned(), source: std::io::Error::other(other.to_string()) },
    })
}

/// Creates the journal file, readable by this user alone, before SQLite opens it (SQLite
/// gives its log files the journal file's permissions).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match crate::vault::write_new_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes the journal and its log files this user's alone, whatever made them.
fn keep_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            if let Ok(meta) = fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = fs::set_permissions(&file, fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

thread_local! {
    /// How many statements this thread's connections to a journal have run.
    static STATEMENTS_RUN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many SQL statements the journal connections used on this thread have run so far.
/// A screen's tests compare it before and after a person types, to prove that typing
/// reads nothing from the journal. Counting is one add per statement.
pub fn statements_run_here() -> u64 {
    STATEMENTS_RUN.with(std::cell::Cell::get)
}

fn count_statement(_: rusqlite::trace::TraceEvent<'_>) {
    STATEMENTS_RUN.with(|n| n.set(n.get() + 1));
}

fn set_pragmas(conn: &Connection) -> Result<(), StoreError> {
    conn.trace_v2(rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT, Some(count_statement));
    // A durable edit is one that survives a crash or power loss the moment its call
    // returns: WAL with full sync.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Deleted text is overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

/// Checks that the key opens this journal before anything else is read or written.
fn check_key(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([KEY_CHECK], |r| r.get(0))
        .optional()?;
    match found {
        None => Err(StoreError::corrupt("it has no key check: it is damaged, or not Steady's").at(path)),
        Some(_) => match get_meta(conn, KEY_CHECK) {
            Ok(_) => Ok(()),
            Err(StoreError::Sealed) => Err(StoreError::WrongKey { path: path.to_owned() }),
            Err(other) => Err(other),
        },
    }
}

/// Checks that an existing file looks like a whole SQLite database, without writing to it.
/// Returns whether the file holds any data.
/// Every journal file this process has looked at before SQLite opened it, held open
/// until the process ends. Closing a descriptor drops every POSIX lock the process holds
/// on that file, SQLite's included ("How To Corrupt An SQLite Database File", 2.2): a
/// header read through a descriptor that then closed, while another connection in this
/// process had the journal open (the window and its network node), would let another
/// process (the command line) take the journal as unused, and delete its log and shared
/// memory under the live connection. A descriptor that is never closed can't do that.
static HELD: std::sync::Mutex<std::collections::BTreeMap<PathBuf, fs::File>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The descriptor held for `path`, opened on first use, and again if the file at `path`
/// was replaced. Descriptors of journals no longer at their path (deleted, or replaced)
/// are let go: they point at files nobody can open by name any more, whose locks no
/// other process can want, and a process that makes many journals (tests) would
/// otherwise run out of descriptors.
fn held_open<'a>(
    held: &'a mut std::collections::BTreeMap<PathBuf, fs::File>,
    path: &Path,
) -> std::io::Result<&'a mut fs::File> {
    held.retain(|kept_path, file| still_there(kept_path, file));
    if !held.contains_key(path) {
        held.insert(path.to_owned(), fs::File::open(path)?);
    }
    held.get_mut(path).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
}

/// Whether a descriptor is held for the journal at `path`.
#[cfg(test)]
pub(super) fn is_held(path: &Path) -> bool {
    HELD.lock().unwrap_or_else(|p| p.into_inner()).contains_key(path)
}

/// Whether `file` is still the file at `path`.
fn still_there(path: &Path, file: &fs::File) -> bool {
    match (fs::metadata(path), file.metadata()) {
        (Ok(now), Ok(kept)) => same_file(&kept, &now),
        _ => false,
    }
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    // Elsewhere the file is opened afresh each time; locks there are not POSIX's.
    false
}

/// Reads the file's first bytes, from the start whatever was read through it before.
fn read_start(file: &mut fs::File, into: &mut [u8]) -> std::io::Result<usize> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut read = 0;
    while read < into.len() {
        match file.read(&mut into[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

fn check_file(path: &Path) -> Result<bool, StoreError> {
    let mut held = HELD.lock().unwrap_or_else(|p| p.into_inner());
    let file = match held_open(&mut held, path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        // SQLite writes nothing until the first transaction: an empty file is a journal
        // whose first start was cut short, and holds nothing to protect.
        return Ok(false);
    }
    let mut header = [0u8; 100];
    let read = read_start(file, &mut header)?;
    let damaged = |what: &str| Err(StoreError::corrupt(what).at(path));
    if read < 100 && header[..read.min(16)] == SQLITE_HEADER[..read.min(16)] {
        return damaged(&format!("it is cut short: only {len} bytes"));
    }
    if read < 100 || &header[..16] != SQLITE_HEADER {
        return damaged("it is not a Steady data file (no SQLite header), or its start was overwritten");
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes([header[28], header[29], header[30], header[31]]));
    let counter_valid = header[24..28] == header[92..96];
    if counter_valid && page_size * pages > len {
        return damaged(&format!("it is cut short: {len} bytes, where its header says {} bytes", page_size * pages));
    }
    Ok(true)
}

/// Turns SQLite's words for a damaged file into ours; leaves other errors as they are.
fn damage_or(e: rusqlite::Error, path: &Path) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match e.sqlite_error_code() {
        Some(DatabaseCorrupt) | Some(NotADatabase) => StoreError::corrupt(format!("SQLite reports: {e}")).at(path),
        _ => StoreError::Sqlite(e),
    }
}

fn ensure_actor(conn: &Connection) -> Result<ActorId, StoreError> {
    if let Some(hex) = get_meta(conn, super::settings::ACTOR)? {
        return ActorId::try_from(hex.as_str())
            .map_err(|_| StoreError::corrupt(format!("the device id {hex:?} is unreadable")));
    }
    let actor = ActorId::random();
    set_meta(conn, super::settings::ACTOR, &actor.to_hex_string())?;
    Ok(actor)
}

/// A sealed value whose only use is to tell whether a key is this journal's.
const KEY_CHECK: &str = "key_check";
