//! From launch to Today showing its data, with 10,000 entries in the data directory: open
//! the journal, build the app's VirtualDom and render the Today screen. Recorded in
//! BENCHMARKS.md.

mod fixture;

use criterion::{Criterion, criterion_group, criterion_main};
use dioxus::prelude::*;
use steady::ui::{App, Journal, Preloaded};

fn launch_to_today(c: &mut Criterion) {
    let dir = fixture::ten_thousand();
    // After the key is unwrapped: the passcode's Argon2id is measured on its own.
    let key = steady::vault::open_without_passcode(&dir).unwrap();
    let mut group = c.benchmark_group("launch");
    group.sample_size(20);
    group.bench_function("open 10k entries and render Today", |b| {
        b.iter(|| {
            let journal = Journal::open(&dir, &key).unwrap();
            let mut dom = VirtualDom::new(App).with_root_context(Preloaded::new(journal));
            dom.rebuild_in_place();
            let html = dioxus_ssr::render(&dom);
            assert!(html.contains("data-screen=\"today\""));
            html.len()
        })
    });
    group.finish();
}

criterion_group!(benches, launch_to_today);
criterion_main!(benches);
