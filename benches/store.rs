//! Speed of the journal on disk: opening 10,000 entries, a durable add, and a share.
//! Figures are recorded in BENCHMARKS.md.

mod fixture;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use steady::store::Store;

fn open_and_list(c: &mut Criterion) {
    let dir = fixture::ten_thousand();
    let mut group = c.benchmark_group("open");
    group.sample_size(20);
    group.bench_function("open 10k entries and list them", |b| {
        b.iter(|| {
            let (_store, entries) = Store::open_dir_with_entries(&dir).unwrap();
            assert_eq!(entries.len(), fixture::ENTRIES);
            entries
        })
    });
    group.finish();
}

fn add_and_share(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = fixture::fill(tmp.path(), 1_000);
    let mut i = 0;
    c.bench_function("add one entry, durable", |b| {
        b.iter(|| {
            i += 1;
            store.add(fixture::draft(i * 6 + 1)).unwrap()
        })
    });
    c.bench_function("share one entry, durable", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                // The entry is written untimed, so the timing holds the share alone.
                let id = store.add(fixture::draft(i * 6)).unwrap().id;
                let start = Instant::now();
                black_box(store.share(id).unwrap());
                total += start.elapsed();
            }
            total
        })
    });
}

criterion_group!(benches, open_and_list, add_and_share);
criterion_main!(benches);
