//! Test 6 of delivery while apart: a simulation of a couple's two phones, their couriers
//! and a home relay. The phones write, share, unshare and check in at random; they are
//! unlocked at random; couriers meet, letters go to the relay and come back, and the two
//! open apps sync, all in any order. At the end, once every letter has been carried and
//! both phones unlocked and synced, both show the same shared journal, nothing waits,
//! and no text that its author took back before it left is on the other phone.

use proptest::prelude::*;
use steady::model::{Draft, Outcome};
use steady::net::daily::DailySecret;
use steady::net::letters;
use steady::net::pairing::{CoupleNetwork, Role};
use steady::net::peers::{self, Partner};
use steady::net::relay::{Shelf, relay_key};
use steady::store::{Mailbox, Store};

#[derive(Clone, Debug)]
enum Op {
    Add {
        by: usize,
    },
    Share {
        by: usize,
        pick: usize,
    },
    Unshare {
        by: usize,
        pick: usize,
    },
    CheckIn {
        by: usize,
        pick: usize,
    },
    /// The two phones' couriers meet: `by`'s ready letters go to the other.
    Meet {
        by: usize,
    },
    /// `by`'s courier leaves its ready letters with the relay.
    Deposit {
        by: usize,
    },
    /// `by`'s courier fetches what the relay holds for it.
    Fetch {
        by: usize,
    },
    /// `by` is unlocked: the letters waiting are opened.
    Unlock {
        by: usize,
    },
    /// Both apps are open together and sync.
    Sync,
}

fn op() -> impl Strategy<Value = Op> {
    let by = 0..2usize;
    prop_oneof![
        3 => by.clone().prop_map(|by| Op::Add { by }),
        3 => (by.clone(), any::<usize>()).prop_map(|(by, pick)| Op::Share { by, pick }),
        1 => (by.clone(), any::<usize>()).prop_map(|(by, pick)| Op::Unshare { by, pick }),
        1 => (by.clone(), any::<usize>()).prop_map(|(by, pick)| Op::CheckIn { by, pick }),
        2 => by.clone().prop_map(|by| Op::Meet { by }),
        2 => by.clone().prop_map(|by| Op::Deposit { by }),
        2 => by.clone().prop_map(|by| Op::Fetch { by }),
        2 => by.prop_map(|by| Op::Unlock { by }),
        1 => Just(Op::Sync),
    ]
}

struct World {
    _dirs: Vec<tempfile::TempDir>,
    phones: Vec<Store>,
    mailboxes: Vec<Mailbox>,
    relay: Shelf,
    relay_ids: Vec<String>,
    /// Texts whose author took them back before they left: never on the other phone.
    kept_back: Vec<(usize, String)>,
    counter: u32,
}

impl World {
    fn new() -> World {
        let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
        let network = CoupleNetwork::from_bytes([5; 32]);
        let mut phones: Vec<Store> = (0..2)
            .map(|i| {
                let mut s = Store::open_dir_without_passcode(dirs[i].path()).unwrap();
                s.init(&format!("Person {i}")).unwrap();
                s.start_couple("0123456789abcdef0123456789abcdef", "them").unwrap();
                s
            })
            .collect();
        let roles = [Role::Inviter, Role::Joiner];
        for i in 0..2 {
            let other = &phones[1 - i];
            let partner = Partner {
                peer: libp2p::PeerId::random(),
                name: format!("Person {}", 1 - i),
                paired_at: chrono::Utc::now(),
                person: other.me().unwrap().id,
                actors: vec![other.actor().to_hex_string()],
                couple: "0123456789abcdef0123456789abcdef".into(),
                confirmed: true,
                safety_words: Vec::new(),
                network: Some(network.clone()),
                role: Some(roles[i]),
                history: Vec::new(),
                restored_at: None,
            };
            peers::set_partner(&mut phones[i], &partner).unwrap();
        }
        let relay = Shelf::at(dirs[2].path()).unwrap();
        let secret = DailySecret::of(&network);
        let relay_ids: Vec<String> =
            roles.iter().map(|r| relay_key(&secret, *r).unwrap().public().to_peer_id().to_base58()).collect();
        let code = relay.invite(chrono::Utc::now() + chrono::Duration::minutes(10)).unwrap();
        relay.join(&code, [relay_ids[0].clone(), relay_ids[1].clone()], chrono::Utc::now()).unwrap();
        let mailboxes = (0..2).map(|i| Mailbox::in_dir(dirs[i].path())).collect();
        World { _dirs: dirs, phones, mailboxes, relay, relay_ids, kept_back: Vec::new(), counter: 0 }
    }

    fn mine(&mut self, by: usize, pick: usize) -> Option<steady::model::Entry> {
        let me = self.phones[by].me().unwrap().id;
        let mine: Vec<_> = self.phones[by].entries().unwrap().into_iter().filter(|e| e.author == me).collect();
        (!mine.is_empty()).then(|| mine[pick % mine.len()].clone())
    }

    fn apply(&mut self, op: &Op) {
        self.counter += 1;
        match *op {
            Op::Add { by } => {
                let text = format!("SIM-{by}-{}-TEXT", self.counter);
                let draft = if self.counter.is_multiple_of(2) {
                    Draft::Agreement { text }
                } else {
                    Draft::Transparency { text, window: None }
                };
                self.phones[by].add(draft).unwrap();
            }
            Op::Share { by, pick } => {
                let Some(e) = self.mine(by, pick) else { return };
                // Shared again, it may leave now.
                self.kept_back.retain(|(who, text)| !(*who == by && text == e.body.main_text()));
                self.phones[by].share(e.id).unwrap();
                letters::post(&mut self.phones[by]).unwrap();
            }
            Op::Unshare { by, pick } => {
                let Some(e) = self.mine(by, pick) else { return };
                let unshared = self.phones[by].unshare(e.id).unwrap();
                if e.shared && !unshared.partner_has_copy {
                    self.kept_back.push((by, e.body.main_text().to_owned()));
                }
                letters::post(&mut self.phones[by]).unwrap();
            }
            Op::CheckIn { by, pick } => {
                let agreements: Vec<_> = self.phones[by]
                    .entries()
                    .unwrap()
                    .into_iter()
                    .filter(|e| matches!(e.body, steady::model::Body::Agreement { .. }))
                    .collect();
                if agreements.is_empty() {
                    return;
                }
                let id = agreements[pick % agreements.len()].id;
                self.phones[by].check_in(id, Outcome::Kept, None).unwrap();
                letters::post(&mut self.phones[by]).unwrap();
            }
            Op::Meet { by } => {
                letters::hand_over(&self.mailboxes[by], &self.mailboxes[1 - by]);
            }
            Op::Deposit { by } => {
                for letter in letters::take_ready_for(&self.mailboxes[by]) {
                    match self.relay.deposit(&self.relay_ids[by], &letter.bytes, chrono::Utc::now()) {
                        Ok(_) => letters::mark_sent(&self.mailboxes[by], &letter),
                        Err(e) => panic!("the relay refused: {e}"),
                    }
                }
            }
            Op::Fetch { by } => {
                for (path, letter) in self.relay.waiting(&self.relay_ids[by], chrono::Utc::now()).unwrap() {
                    letters::keep_incoming(&self.mailboxes[by], &letter).unwrap();
                    std::fs::remove_file(path).unwrap();
                }
            }
            Op::Unlock { by } => {
                let opened = letters::open_waiting(&mut self.phones[by], None).unwrap();
                assert!(opened.refused.is_empty(), "{:?}", opened.refused);
            }
            Op::Sync => {
                let (left, right) = self.phones.split_at_mut(1);
                crate::common::sync_stores(&mut left[0], &mut right[0]);
            }
        }
    }

    /// Every letter carried, both phones unlocked, then a sync.
    fn settle(&mut self) {
        for by in 0..2 {
            self.apply(&Op::Deposit { by });
        }
        for by in 0..2 {
            self.apply(&Op::Fetch { by });
            self.apply(&Op::Unlock { by });
        }
        self.apply(&Op::Sync);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn couriers_and_a_relay_deliver_in_any_order_and_the_phones_converge(ops in prop::collection::vec(op(), 10..40)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.settle();
        let shared = |s: &mut Store| {
            let mut v: Vec<_> = s.entries().unwrap().into_iter().filter(|e| e.shared)
                .map(|e| (e.id, e.body.main_text().to_owned(), match &e.body { steady::model::Body::Agreement { check_ins, .. } => check_ins.len(), _ => 0 })).collect();
            v.sort();
            v
        };
        let (a, b) = (shared(&mut world.phones[0]), shared(&mut world.phones[1]));
        prop_assert_eq!(&a, &b);
        for p in &mut world.phones {
            prop_assert!(p.entries().unwrap().iter().all(|e| !e.waiting), "everything left");
            prop_assert!(p.verify_index().is_ok());
        }
        for (by, text) in &world.kept_back {
            let other = &mut world.phones[1 - by];
            prop_assert!(!other.entries().unwrap().iter().any(|e| e.body.main_text() == text),
                "{} was taken back before it left, yet is on the other phone", text);
        }
    }
}

/// The simulation's moves carry what they say: a share goes by the relay alone, and one
/// by couriers meeting alone, each read at the next unlock with no sync at all; a share
/// taken back before it left goes nowhere.
#[test]
fn the_simulations_moves_carry_letters_without_any_sync() {
    let mut world = World::new();
    let count = |w: &mut World, by: usize| w.phones[by].entries().unwrap().iter().filter(|e| e.shared).count();
    world.apply(&Op::Add { by: 0 });
    world.apply(&Op::Share { by: 0, pick: 0 });
    world.apply(&Op::Deposit { by: 0 });
    world.apply(&Op::Unlock { by: 1 });
    assert_eq!(count(&mut world, 1), 0, "nothing fetched yet");
    world.apply(&Op::Fetch { by: 1 });
    world.apply(&Op::Unlock { by: 1 });
    assert_eq!(count(&mut world, 1), 1, "by the relay");
    world.apply(&Op::Add { by: 1 });
    world.apply(&Op::Share { by: 1, pick: 0 });
    world.apply(&Op::Meet { by: 1 });
    world.apply(&Op::Unlock { by: 0 });
    assert_eq!(count(&mut world, 0), 2, "by couriers meeting");
    world.apply(&Op::Add { by: 0 });
    let newest = world.phones[0].entries().unwrap().into_iter().find(|e| !e.shared).unwrap();
    world.phones[0].share(newest.id).unwrap();
    letters::post(&mut world.phones[0]).unwrap();
    assert!(!world.phones[0].unshare(newest.id).unwrap().partner_has_copy);
    letters::post(&mut world.phones[0]).unwrap();
    world.apply(&Op::Meet { by: 0 });
    world.apply(&Op::Unlock { by: 1 });
    assert_eq!(count(&mut world, 1), 2, "the share taken back went nowhere");
    assert_eq!(count(&mut world, 0), 2);
}

/// The courier's profile holds the courier's own keys for the days ahead and both
/// phones' peers, and nothing from which the couple secret, either app's identity, the
/// letters' keys or the sync's hello could be made; the background mode sits beside it,
/// on its own, for the phone's service.
#[test]
fn the_courier_profile_holds_the_couriers_days_and_nothing_more() {
    let world = World::new();
    let dir = world.phones[0].path().parent().unwrap().to_path_buf();
    steady::net::courier::keep_profile(&world.phones[0]).unwrap();
    let profile = std::fs::read_to_string(dir.join(steady::net::courier::PROFILE_FILE)).unwrap();
    let network = CoupleNetwork::from_bytes([5; 32]);
    let daily = DailySecret::of(&network);
    let today = chrono::Utc::now().date_naive();
    let courier = daily.courier_key(Role::Inviter, today).unwrap().to_protobuf_encoding().unwrap();
    assert!(profile.contains(&hex::encode(&courier)), "today's courier key is there: {profile}");
    let partner_app = daily.key(Role::Joiner, today).unwrap().public().to_peer_id().to_base58();
    assert!(profile.contains(&partner_app), "and the partner's app, by its peer id");
    let hello = steady::net::sync::hello_token(&network, Role::Joiner, &[0x01; 16]);
    let my_app = daily.key(Role::Inviter, today).unwrap().to_protobuf_encoding().unwrap();
    let partners_app = daily.key(Role::Joiner, today).unwrap().to_protobuf_encoding().unwrap();
    for secret in [
        hex::encode(network.as_bytes()),
        hex::encode(daily.as_bytes()),
        hex::encode(&hello[..8]),
        hex::encode(&my_app[4..]),
        hex::encode(&partners_app[4..]),
    ] {
        assert!(!profile.contains(&secret), "{profile}");
    }
    let read = steady::net::courier::read_profile(&dir).unwrap();
    assert_eq!(read.days.len() as u64, steady::net::courier::DAYS_AHEAD);
    assert_eq!(read.day(today).unwrap().partner_app, partner_app);
    assert_eq!(std::fs::read_to_string(dir.join(steady::net::courier::MODE_FILE)).unwrap(), "always");
    let read = steady::net::courier::read_profile(&dir).unwrap();
    assert_eq!((read.role, read.background.as_str(), read.paused), (Role::Inviter, "always", false));
}

/// Us › Home relay lists the couple's relays, who added each, and removes one: the
/// journal forgets it, and a note for the partner's phone waits to go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_us_screen_lists_the_couples_relays_and_removes_one() {
    use dioxus::prelude::*;
    use steady::net::relay::{Known, RelayEntry, record_added};
    let mut world = World::new();
    let dir = world.phones[0].path().parent().unwrap().to_path_buf();
    let relay = |added_by: &str| RelayEntry {
        id: libp2p::PeerId::random().to_base58(),
        addresses: Vec::new(),
        added_by: added_by.into(),
        added_at: chrono::Utc::now(),
    };
    let mine = relay("me");
    record_added(&mut world.phones[0], &mine).unwrap();
    let mut known = Known::read(&world.phones[0]).unwrap();
    assert!(known.merge_from_partner(&Known { relays: vec![relay("me")], removed: Vec::new() }));
    known.write(&mut world.phones[0]).unwrap();

    let dom = VirtualDom::new(steady::ui::App).with_root_context(steady::ui::DataDir(dir.clone())).with_root_context(
        steady::ui::service::NetOptions {
            discovery_allowed: false,
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        },
    );
    let mut screen = crate::harness::Screen::new(dom);
    screen.tap("data-tab", "us");
    let html = screen.html();
    assert!(
        html.contains("Home relay") && html.contains("added by you") && html.contains("added by Person 1"),
        "{html}"
    );
    assert!(screen.has("data-setting", "background"));
    // The first listed is the one this phone added.
    screen.tap("data-action", "remove-relay");
    let left = Known::read(&world.phones[0]).unwrap();
    assert_eq!(left.relays.len(), 1, "{left:?}");
    assert_ne!(left.relays[0].id, mine.id);
    assert!(left.removed.contains(&mine.id));
    let notes = dir.join("letters").join("out").join("notes");
    assert_eq!(std::fs::read_dir(notes).unwrap().count(), 1, "one note for the partner's phone");
    let html = screen.html();
    assert!(!html.contains(&format!("Relay {}", &mine.id[mine.id.len() - 6..])), "{html}");
    assert!(html.contains("added by Person 1"));
}
