//! Unlocking with a passcode: Argon2id derives the wrapping key, which opens the data
//! key. And changing the passcode at 10,000 entries, which seals the whole journal again
//! under a new data key. Recorded in BENCHMARKS.md with the parameters they ran with.

mod fixture;

use criterion::{Criterion, criterion_group, criterion_main};
use steady::store::Store;
use steady::vault::{KDF, Vault};

fn unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::at(dir.path());
    let key = vault.set_up(Some("a passcode of Steady's own")).unwrap();
    let mut group = c.benchmark_group("unlock");
    group.sample_size(10);
    let name = format!(
        "Argon2id ({} MiB, {} passes, {} lane) and unwrap",
        KDF.memory_kib / 1024,
        KDF.iterations,
        KDF.parallelism
    );
    group.bench_function(name, |b| {
        b.iter(|| {
            let opened = vault.unlock("a passcode of Steady's own").unwrap();
            assert_eq!(opened.bytes(), key.bytes());
        })
    });
    group.finish();
}

/// A passcode change on a copy of the 10,000-entry journal: a new data key wrapped under
/// the new passcode (Argon2id), every sealed value opened and sealed again, every lookup
/// tag made again, in one durable transaction, the log of writes emptied, and the new key
/// file put in place.
fn change_passcode(c: &mut Criterion) {
    let copy = tempfile::tempdir().unwrap();
    for file in std::fs::read_dir(fixture::ten_thousand()).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), copy.path().join(file.file_name())).unwrap();
    }
    let vault = Vault::at(copy.path());
    let mut store = Store::open_dir_without_passcode(copy.path()).unwrap();
    let mut group = c.benchmark_group("change passcode");
    group.sample_size(10);
    let mut round = 0u32;
    group.bench_function("10,000 entries sealed again under a new key", |b| {
        b.iter(|| {
            round += 1;
            store.change_passcode(&vault, Some(&format!("passcode number {round}"))).unwrap();
        })
    });
    group.finish();
    assert_eq!(store.entries().unwrap().len(), fixture::ENTRIES);
}

criterion_group!(benches, unlock, change_passcode);
criterion_main!(benches);
