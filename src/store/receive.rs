//! Taking a partner's sync message into the document, as Automerge's own
//! `receive_sync_message` does, minus a walk of the whole history that changes nothing.
//!
//! Automerge's receive ends by trimming the changes this phone sent in this session
//! (`State::sent_hashes`) to those the partner still lacks, and it walks every ancestor
//! of the partner's heads to do it, even when nothing was sent. After five years of
//! shares, edits and check-ins that is over ten thousand changes, for every message
//! received: about 0.3 ms at 10,000 changes, growing with the history. When nothing was
//! sent there is nothing to trim, so the message is handed to Automerge without its heads
//! (no walk), and what Automerge would have done with the heads is done here, in the same
//! order. A test checks the two ways give the same document and the same state over
//! thousands of messages, lost and out of order ones among them.

use std::collections::HashSet;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, AutomergeError, ChangeHash, ReadDoc};

use super::StoreError;

/// Runs one of Automerge's receives, and turns a panic inside it into a refusal: a
/// malformed column in a partner's change can make Automerge's own parser panic (a
/// truncated run-length column, found by `fuzz/whole_document`), and the caller then
/// reads the document again from the file, as after any refused message.
pub fn guarded<T>(receive: impl FnOnce() -> Result<T, AutomergeError>) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(receive)) {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::BadSyncMessage("Automerge could not read a change in it")),
    }
}

/// Applies `message` to `doc` and updates `state`, exactly as
/// `Automerge::receive_sync_message` does.
pub fn receive(doc: &mut Automerge, state: &mut sync::State, mut message: sync::Message) -> Result<(), StoreError> {
    if !state.sent_hashes.is_empty() || message.heads.is_empty() {
        return guarded(|| doc.receive_sync_message(state, message));
    }
    let heads = std::mem::take(&mut message.heads);
    let changes_is_empty = message.changes.is_empty();
    let before = doc.get_heads();
    let last_sent = state.last_sent_heads.clone();
    let shared = state.shared_heads.clone();
    guarded(|| doc.receive_sync_message(state, message))?;
    // Automerge, given no heads, took them for a partner that lost everything: it set the
    // shared heads to none and forgot what it last sent. Put back what the heads say.
    state.last_sent_heads = last_sent;
    if changes_is_empty && heads == before {
        state.last_sent_heads.clone_from(&heads);
    }
    let shared =
        if !changes_is_empty && !state.read_only { advance(&before, &doc.get_heads(), &shared) } else { shared };
    let known: Vec<ChangeHash> = heads.iter().filter(|h| doc.get_change_by_hash(h).is_some()).copied().collect();
    state.shared_heads = if known.len() == heads.len() {
        heads.clone()
    } else {
        let mut all: Vec<ChangeHash> = shared.into_iter().chain(known).collect();
        all.sort();
        all.dedup();
        all
    };
    state.their_heads = Some(heads);
    Ok(())
}

/// The heads both phones now share: this phone's new heads, and those shared before that
/// are still heads.
fn advance(before: &[ChangeHash], after: &[ChangeHash], shared: &[ChangeHash]) -> Vec<ChangeHash> {
    let before: HashSet<&ChangeHash> = before.iter().collect();
    let after_set: HashSet<&ChangeHash> = after.iter().collect();
    let mut out: Vec<ChangeHash> = after
        .iter()
        .filter(|h| !before.contains(h))
        .chain(shared.iter().filter(|h| after_set.contains(h)))
        .copied()
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic inside Automerge's receive is a refused message, not a fault of the app's:
    /// what `fuzz/whole_document` found (a truncated run-length column, which Automerge's
    /// parser unwraps) now ends there.
    #[test]
    fn a_panic_inside_automerge_is_a_refused_message() {
        let refused = guarded(|| -> Result<(), AutomergeError> { panic!("failed to fill whole buffer") });
        assert!(matches!(refused, Err(StoreError::BadSyncMessage(_))), "{refused:?}");
        assert!(refused.unwrap_err().to_string().contains("can't accept"));
        assert!(guarded(|| Ok::<_, AutomergeError>(7)).is_ok_and(|n| n == 7));
    }

    /// A small deterministic generator, so a failure can be replayed.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % sides
        }
    }

    /// One phone: its document and its state with the other.
    struct Phone {
        doc: Automerge,
        state: sync::State,
    }

    fn edit(doc: &mut Automerge, key: &str, value: u64) {
        use automerge::transaction::Transactable;
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, key, value).unwrap();
        tx.commit();
    }

    /// How often each way through [`receive`] was taken.
    #[derive(Default)]
    struct Taken {
        without_walk: usize,
        heads_lacking: usize,
        in_step: usize,
    }

    /// Hands `message` to `p` both ways, Automerge's and [`receive`], and checks they agree.
    fn deliver(p: &mut Phone, message: sync::Message, taken: &mut Taken, at: &str) {
        let mut theirs = p.doc.clone();
        let mut their_state = p.state.clone();
        let expected = theirs.receive_sync_message(&mut their_state, message.clone());
        let fast = p.state.sent_hashes.is_empty() && !message.heads.is_empty();
        let heads = message.heads.clone();
        let empty = message.changes.is_empty();
        let got = receive(&mut p.doc, &mut p.state, message);
        assert_eq!(got.is_ok(), expected.is_ok(), "{at}");
        assert_eq!(p.state, their_state, "{at}");
        assert_eq!(p.doc.get_heads(), theirs.get_heads(), "{at}");
        if fast {
            taken.without_walk += 1;
            taken.heads_lacking += usize::from(heads.iter().any(|h| p.doc.get_change_by_hash(h).is_none()));
            taken.in_step += usize::from(empty && heads == p.doc.get_heads());
        }
    }

    /// Both phones say what they have to say, in order, until neither has anything.
    fn settle(phones: &mut [Phone; 2], taken: &mut Taken, at: &str) {
        let mut said = true;
        while said {
            said = false;
            for who in 0..2 {
                let p = &mut phones[who];
                if let Some(m) = p.doc.generate_sync_message(&mut p.state) {
                    deliver(&mut phones[1 - who], m, taken, at);
                    said = true;
                }
            }
        }
    }

    #[test]
    fn gives_what_automerges_own_receive_gives_lost_and_late_messages_too() {
        let mut dice = Dice(7);
        let mut taken = Taken::default();
        for run in 0..40 {
            let mut phones = [
                Phone { doc: Automerge::new(), state: sync::State::new() },
                Phone { doc: Automerge::new(), state: sync::State::new() },
            ];
            // Messages on their way to each phone, in any order.
            let mut on_the_way: [Vec<sync::Message>; 2] = [Vec::new(), Vec::new()];
            for step in 0..150 {
                let who = dice.roll(2) as usize;
                match dice.roll(10) {
                    0..=2 => edit(&mut phones[who].doc, &format!("k{}", dice.roll(30)), run * 1000 + step),
                    3..=5 => {
                        let p = &mut phones[who];
                        if let Some(m) = p.doc.generate_sync_message(&mut p.state) {
                            on_the_way[1 - who].push(m);
                        }
                    }
                    6 => {
                        // Lost: the connection ends, both start a new session.
                        on_the_way = [Vec::new(), Vec::new()];
                        for p in &mut phones {
                            p.state = sync::State::decode(&p.state.encode()).unwrap();
                        }
                    }
                    _ => {
                        if on_the_way[who].is_empty() {
                            continue;
                        }
                        let at = dice.roll(on_the_way[who].len() as u64) as usize;
                        let message = on_the_way[who].remove(at);
                        deliver(&mut phones[who], message, &mut taken, &format!("run {run}, step {step}"));
                    }
                }
            }
            // Then a quiet spell: what is on its way arrives, and they talk until in step.
            for (who, messages) in on_the_way.into_iter().enumerate() {
                for message in messages {
                    deliver(&mut phones[who], message, &mut taken, &format!("run {run}, arriving late"));
                }
            }
            settle(&mut phones, &mut taken, &format!("run {run}, settling"));
            assert_eq!(phones[0].doc.get_heads(), phones[1].doc.get_heads(), "run {run} ends in step");
            // And they meet again, in step from the start.
            for p in &mut phones {
                p.state = sync::State::decode(&p.state.encode()).unwrap();
            }
            settle(&mut phones, &mut taken, &format!("run {run}, meeting again"));
        }
        // The way that skips the walk was taken, in each of its branches.
        assert!(taken.without_walk > 400, "only {} messages took the way without the walk", taken.without_walk);
        assert!(taken.heads_lacking > 20, "only {} messages named heads this phone lacks", taken.heads_lacking);
        assert!(taken.in_step > 20, "only {} messages said both were in step", taken.in_step);
    }
}
