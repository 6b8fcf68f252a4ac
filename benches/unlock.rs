//! Unlocking with a passcode: Argon2id derives the wrapping key, which opens the data
//! key. Recorded in BENCHMARKS.md with the parameters it ran with.

use criterion::{Criterion, criterion_group, criterion_main};
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

criterion_group!(benches, unlock);
criterion_main!(benches);
