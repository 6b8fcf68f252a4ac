//! Pairing, once and in person: one phone shows an invite code, the other types it, and
//! the two prove to each other that they hold the same code with SPAKE2, so nobody who
//! merely listens on the network learns it. Sans-IO: messages in, messages out.
//!
//! ```text
//! joiner (B)                          inviter (A)
//!   Hello { spake_b }        ──►
//!                            ◄──      Reply { spake_a, confirm_a, commit_a = H(nonce_a) }
//!   Confirm { confirm_b, name_b, person_b, actor_b, nonce_b, [continues] } ──►
//!                            ◄──      Welcome { name_a, person_a, actor_a, nonce_a, [heads] }
//! ```
//!
//! A joiner restored from a backup may ask to continue the couple's shared document
//! (`continues`, under the confirmation); the inviter then names the heads of the
//! document it continues, which the joiner takes as their history.
//!
//! Both confirmations are HMACs of the transcript under the session key, so a wrong code
//! is caught on both sides; the joiner's also covers who it says it is. Both screens then
//! show the same safety words, and both phones learn the same couple id, each derived
//! from the session key with its own label: a new pairing, even of the same two people,
//! gets a new couple id and so a new shared document.
//!
//! The safety words are a short authentication string behind a commitment. Someone in
//! the middle who knows the code can finish the key exchange with each phone, and the
//! 24 bits of the words are all that then tells the two sessions apart. So the words
//! come from the session key and a random nonce from each phone, and each phone is
//! bound to its part before it sees the other's: the inviter's key and nonce are fixed
//! (the nonce committed to) before the joiner's nonce is sent, and the joiner's key and
//! nonce before the inviter's nonce is opened. Whoever sits in the middle has to choose
//! everything it controls before the last unknown part arrives: one guess, with odds
//! of 1 in 2^24, per pairing, and a wrong one shows as words that differ.
//!
//! Each side introduces itself with its person id and the Automerge actor its changes
//! carry, so the other phone can later check that every change it receives was made by
//! the partner's device, as the partner. The stream is Noise-encrypted and authenticated
//! to the two peer ids, which the SPAKE2 transcript binds, so nobody else can speak on it.
//!
//! Over 600 lines with its tests, which stay beside the exchange they play (the attacker
//! among them); the exchange itself is under 600.

use std::fmt;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_core::RngCore;
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};

use crate::model::PersonId;

/// Letters that can't be mistaken for each other when read aloud or typed: no 0/O, 1/I/L.
const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// The longest pairing message this version sends or accepts.
pub const MAX_MESSAGE: usize = 1024;

/// Version 2 added the person and actor to the confirmation and the welcome; version 3
/// the commitment and nonces behind the safety words; version 4 changes no message, but
/// both phones then take a new identity each day from the couple's network secret
/// (`net::daily`), which a phone on version 3 would never find. A phone on an earlier
/// version is refused with "unknown version" rather than paired half-way.
const VERSION: u8 = 4;

/// The most heads a continued document's history is given by. A document has one head
/// once both phones have synced; a few when changes crossed.
pub const MAX_HEADS: usize = 16;

/// The longest Automerge actor id accepted from the other phone. Steady makes 16-byte
/// ones.
pub const MAX_ACTOR: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("an invite code has 8 letters and digits, like 7KQM-4T2X; {0:?} isn't one")]
    BadCode(String),
    #[error("that code doesn't match the invite on your partner's phone; check it and try again")]
    WrongCode,
    #[error("the pairing message is malformed: {0}")]
    Malformed(&'static str),
    #[error("the pairing message is {0} bytes; the most is {MAX_MESSAGE}")]
    TooLong(usize),
    #[error("the invite link can't be read: {0}")]
    BadLink(&'static str),
    #[error("the other phone holds this very journal (the same person or device id); pair two different phones")]
    SameJournal,
}

/// The short code an invite is protected by, as read aloud: `XXXX-XXXX`.
#[derive(Clone, PartialEq, Eq)]
pub struct InviteCode([u8; 8]);

impl InviteCode {
    /// A fresh code from the system's randomness: each of the eight letters drawn
    /// evenly from the whole alphabet, 8 × log2(31) = 39.6 bits.
    pub fn random() -> InviteCode {
        InviteCode::from_bytes(|buf| rand_core::OsRng.fill_bytes(buf))
    }

    /// A code from the random bytes `fill` gives. A byte counts only below the largest
    /// multiple of 31 (248), so every letter is as likely as every other.
    fn from_bytes(mut fill: impl FnMut(&mut [u8])) -> InviteCode {
        const EVEN: u8 = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        let mut code = [0u8; 8];
        let mut taken = 0;
        let mut buf = [0u8; 16];
        while taken < code.len() {
            fill(&mut buf);
            for b in buf.iter().copied().filter(|b| *b < EVEN) {
                if taken == code.len() {
                    break;
                }
                code[taken] = ALPHABET[b as usize % ALPHABET.len()];
                taken += 1;
            }
        }
        InviteCode(code)
    }

    /// Reads a code as a person typed it: any case, with or without the dash and spaces;
    /// letters easily confused are taken as the digits they look like.
    pub fn parse(text: &str) -> Result<InviteCode, PairingError> {
        let mut out = Vec::with_capacity(8);
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(PairingError::BadCode(text.to_owned()));
            }
            out.push(c as u8);
        }
        <[u8; 8]>::try_from(out.as_slice()).map(InviteCode).map_err(|_| PairingError::BadCode(text.to_owned()))
    }

    fn password(&self) -> Password {
        Password::new(self.0)
    }
}

impl fmt::Display for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = std::str::from_utf8(&self.0).map_err(|_| fmt::Error)?;
        write!(f, "{}-{}", &s[..4], &s[4..])
    }
}

impl fmt::Debug for InviteCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InviteCode(****-****)")
    }
}

/// A message on the pairing stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairMessage {
    Hello {
        spake: Vec<u8>,
    },
    Reply {
        spake: Vec<u8>,
        confirm: [u8; 32],
        /// The inviter's commitment to its nonce.
        commit: [u8; 32],
    },
    Confirm {
        confirm: [u8; 32],
        who: Introduction,
        /// The joiner's nonce.
        nonce: [u8; 32],
        /// The joiner asks to continue the couple's shared document (a restore from a
        /// backup), covered by the confirmation like the rest.
        continues: bool,
    },
    Welcome {
        who: Introduction,
        /// The inviter's nonce, opened.
        nonce: [u8; 32],
        /// When continuing: the heads of the shared document the inviter continues, the
        /// history the joiner takes as the couple's. Empty otherwise.
        history: Vec<[u8; 32]>,
    },
    /// The inviter's last word when pairing can't go on.
    Refused {
        reason: Refusal,
    },
}

/// Who a phone says it is, once the code is known to match: the name its person goes by,
/// their person id, and the Automerge actor the phone's changes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Introduction {
    pub name: String,
    pub person: PersonId,
    /// 1 to [`MAX_ACTOR`] bytes.
    pub actor: Vec<u8>,
}

impl Introduction {
    fn encode_into(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.name.as_bytes());
        out.extend_from_slice(self.person.as_uuid().as_bytes());
        put_bytes(out, &self.actor);
    }

    fn read(r: &mut Reader<'_>) -> Result<Introduction, PairingError> {
        let name = r.text()?;
        let person = PersonId::from_uuid(uuid::Uuid::from_bytes(r.array::<16>()?));
        let actor = r.bytes()?;
        if actor.is_empty() || actor.len() > MAX_ACTOR {
            return Err(PairingError::Malformed("device id of the wrong length"));
        }
        Ok(Introduction { name, person, actor: actor.to_vec() })
    }

    fn transcript_part(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Why an inviter refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongCode = 1,
    Expired = 2,
    TooManyTries = 3,
    Busy = 4,
    NothingToContinue = 5,
}

impl PairMessage {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            PairMessage::Hello { spake } => {
                out.push(1);
                put_bytes(&mut out, spake);
            }
            PairMessage::Reply { spake, confirm, commit } => {
                out.push(2);
                put_bytes(&mut out, spake);
                out.extend_from_slice(confirm);
                out.extend_from_slice(commit);
            }
            PairMessage::Confirm { confirm, who, nonce, continues } => {
                out.push(3);
                out.extend_from_slice(confirm);
                who.encode_into(&mut out);
                out.extend_from_slice(nonce);
                if *continues {
                    out.push(1);
                }
            }
            PairMessage::Welcome { who, nonce, history } => {
                out.push(4);
                who.encode_into(&mut out);
                out.extend_from_slice(nonce);
                if !history.is_empty() {
                    out.push(history.len().min(MAX_HEADS) as u8);
                    for head in history.iter().take(MAX_HEADS) {
                        out.extend_from_slice(head);
                    }
                }
            }
            PairMessage::Refused { reason } => {
                out.push(5);
                out.push(*reason as u8);
            }
        }
        out
    }

    /// Reads one message, refusing anything malformed, oversized or trailing.
    pub fn decode(bytes: &[u8]) -> Result<PairMessage, PairingError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(PairingError::TooLong(bytes.len()));
        }
        let mut r = Reader(bytes);
        if r.byte()? != VERSION {
            return Err(PairingError::Malformed("unknown version"));
        }
        let msg = match r.byte()? {
            1 => PairMessage::Hello { spake: r.bytes()?.to_vec() },
            2 => PairMessage::Reply { spake: r.bytes()?.to_vec(), confirm: r.mac()?, commit: r.array()? },
            3 => PairMessage::Confirm {
                confirm: r.mac()?,
                who: Introduction::read(&mut r)?,
                nonce: r.array()?,
                continues: match r.0 {
                    [] => false,
                    [1, ..] => {
                        r.byte()?;
                        true
                    }
                    _ => return Err(PairingError::Malformed("unknown confirmation flag")),
                },
            },
            4 => {
                let (who, nonce) = (Introduction::read(&mut r)?, r.array()?);
                let mut history = Vec::new();
                if !r.0.is_empty() {
                    let n = r.byte()? as usize;
                    if n == 0 || n > MAX_HEADS {
                        return Err(PairingError::Malformed("a history of the wrong length"));
                    }
                    for _ in 0..n {
                        history.push(r.array()?);
                    }
                }
                PairMessage::Welcome { who, nonce, history }
            }
            5 => PairMessage::Refused {
                reason: match r.byte()? {
                    1 => Refusal::WrongCode,
                    2 => Refusal::Expired,
                    3 => Refusal::TooManyTries,
                    4 => Refusal::Busy,
                    5 => Refusal::NothingToContinue,
                    _ => return Err(PairingError::Malformed("unknown refusal")),
                },
            },
            _ => return Err(PairingError::Malformed("unknown message")),
        };
        if !r.0.is_empty() {
            return Err(PairingError::Malformed("trailing bytes"));
        }
        Ok(msg)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Messages are capped far below 64 KiB.
    out.extend_from_slice(&(bytes.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..bytes.len().min(u16::MAX as usize)]);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PairingError> {
        if self.0.len() < n {
            return Err(PairingError::Malformed("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, PairingError> {
        Ok(self.take(1)?[0])
    }

    fn bytes(&mut self) -> Result<&'a [u8], PairingError> {
        let len = self.take(2)?;
        let len = u16::from_be_bytes([len[0], len[1]]) as usize;
        self.take(len)
    }

    fn mac(&mut self) -> Result<[u8; 32], PairingError> {
        self.array::<32>()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PairingError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn text(&mut self) -> Result<String, PairingError> {
        let b = self.bytes()?;
        if b.len() > 240 {
            return Err(PairingError::Malformed("name too long"));
        }
        String::from_utf8(b.to_vec()).map_err(|_| PairingError::Malformed("name is not UTF-8"))
    }
}

/// The session secret both sides derive when their codes match.
pub struct SessionKey(Vec<u8>);

impl SessionKey {
    fn mac(&self, label: &[u8], transcript: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable_mac());
        mac.update(label);
        mac.update(transcript);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, label: &[u8], transcript: &[u8], tag: &[u8; 32]) -> bool {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else { return false };
        mac.update(label);
        mac.update(transcript);
        mac.verify_slice(tag).is_ok()
    }

    /// The couple id both phones learn: names this pairing's shared document. Its own
    /// label, so it says nothing about the safety words, and the words nothing about it.
    fn couple_id(&self) -> [u8; 16] {
        let hk = Hkdf::<Sha256>::new(None, &self.0);
        let mut okm = [0u8; 16];
        // Sixteen bytes is far below HKDF's limit, so this can't fail.
        let _ = hk.expand(b"steady couple id", &mut okm);
        okm
    }
}

/// What two phones agree on once paired: the session key, and both nonces.
pub struct Agreement {
    key: SessionKey,
    nonce_a: [u8; 32],
    nonce_b: [u8; 32],
}

impl Agreement {
    /// Four words both screens show, so the partners can see they paired with each
    /// other: from the session key and both phones' nonces (see the module's comment).
    pub fn safety_words(&self) -> [&'static str; 4] {
        safety_words(&self.key, &self.nonce_a, &self.nonce_b)
    }

    /// The couple id both phones learn: names this pairing's shared document.
    pub fn couple_id(&self) -> [u8; 16] {
        self.key.couple_id()
    }

    /// The secret both phones keep for the network: what each phone is called there, day
    /// by day (`net::daily`). Its own label, so it says nothing about the couple id or the
    /// words.
    pub fn couple_network(&self) -> CoupleNetwork {
        let hk = Hkdf::<Sha256>::new(None, &self.key.0);
        let mut okm = [0u8; 32];
        // Thirty-two bytes is far below HKDF's limit, so this can't fail.
        let _ = hk.expand(b"steady couple network v1", &mut okm);
        CoupleNetwork(okm)
    }
}

/// The secret two paired phones share for finding each other on the network: from it
/// and the date each phone works out its own and the other's identity and port for the
/// day. Kept sealed in the settings, with the partner, and forgotten when the pairing
/// ends. Never shown, logged or sent.
#[derive(Clone, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct CoupleNetwork([u8; 32]);

impl CoupleNetwork {
    /// The secret as these bytes: for simulations that replay a whole run from one seed.
    #[doc(hidden)]
    pub fn from_bytes(bytes: [u8; 32]) -> CoupleNetwork {
        CoupleNetwork(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for CoupleNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CoupleNetwork(..)")
    }
}

fn safety_words(key: &SessionKey, nonce_a: &[u8; 32], nonce_b: &[u8; 32]) -> [&'static str; 4] {
    let hk = Hkdf::<Sha256>::new(None, &key.0);
    let mut okm = [0u8; 4];
    // Four bytes is far below HKDF's limit, so this can't fail.
    let _ = hk.expand_multi_info(&[b"steady safety words v3", nonce_a, nonce_b], &mut okm);
    words_of(okm)
}

/// Four safety words from four bytes, from the same list as a pairing's.
pub(crate) fn words_of(bytes: [u8; 4]) -> [&'static str; 4] {
    bytes.map(|b| WORDS[b as usize % WORDS.len()])
}

/// The inviter's commitment to its nonce.
fn commitment(nonce: &[u8; 32]) -> [u8; 32] {
    let mut hash = <Sha256 as sha2::Digest>::new();
    sha2::Digest::update(&mut hash, b"steady words commitment\0");
    sha2::Digest::update(&mut hash, nonce);
    sha2::Digest::finalize(hash).into()
}

fn random_nonce() -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut nonce);
    nonce
}

/// HMAC accepts keys of any length, so building one never fails.
fn unreachable_mac() -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(b"steady").unwrap_or_else(|_| unreachable!())
}

fn identities(inviter: &str, joiner: &str) -> (Identity, Identity) {
    (
        Identity::new(format!("steady-pair-a:{inviter}").as_bytes()),
        Identity::new(format!("steady-pair-b:{joiner}").as_bytes()),
    )
}

fn transcript(inviter: &str, joiner: &str, spake_a: &[u8], spake_b: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    for part in [inviter.as_bytes(), joiner.as_bytes(), spake_a, spake_b] {
        put_bytes(&mut t, part);
    }
    t
}

/// The joiner's side: starts with the code the person typed.
pub struct Joiner {
    state: Spake2<Ed25519Group>,
    inviter: String,
    me: String,
    hello: Vec<u8>,
}

impl Joiner {
    /// `inviter` and `me` are the two phones' peer ids, as text.
    pub fn start(code: &InviteCode, inviter: &str, me: &str) -> (Joiner, PairMessage) {
        let (a, b) = identities(inviter, me);
        let (state, hello) = Spake2::<Ed25519Group>::start_b(&code.password(), &a, &b);
        let msg = PairMessage::Hello { spake: hello.clone() };
        (Joiner { state, inviter: inviter.to_owned(), me: me.to_owned(), hello }, msg)
    }

    /// Checks the inviter's reply. A wrong code is caught here. The confirmation also
    /// vouches for `me`, this phone's introduction, and carries this phone's nonce, now
    /// that the inviter is bound to its own.
    pub fn on_reply(
        self,
        spake_a: &[u8],
        confirm_a: &[u8; 32],
        commit_a: &[u8; 32],
        me: &Introduction,
        continues: bool,
    ) -> Result<(JoinerConfirmed, PairMessage), PairingError> {
        let nonce_b = random_nonce();
        let key = SessionKey(self.state.finish(spake_a).map_err(|_| PairingError::Malformed("bad key exchange"))?);
        let t = [transcript(&self.inviter, &self.me, spake_a, &self.hello), commit_a.to_vec()].concat();
        if !key.verify(b"inviter confirms", &t, confirm_a) {
            return Err(PairingError::WrongCode);
        }
        let confirm =
            key.mac(b"joiner confirms", &[t, me.transcript_part(), nonce_b.to_vec(), flag(continues)].concat());
        let waiting = JoinerConfirmed { key, commit_a: *commit_a, nonce_b };
        Ok((waiting, PairMessage::Confirm { confirm, who: me.clone(), nonce: nonce_b, continues }))
    }
}

/// The joiner once it has confirmed: waiting for the inviter to open its nonce.
pub struct JoinerConfirmed {
    key: SessionKey,
    commit_a: [u8; 32],
    nonce_b: [u8; 32],
}

impl JoinerConfirmed {
    /// The inviter's welcome opens the nonce it committed to; any other nonce is refused.
    pub fn on_welcome(self, nonce_a: &[u8; 32]) -> Result<Agreement, PairingError> {
        if commitment(nonce_a) != self.commit_a {
            return Err(PairingError::Malformed("the welcome does not open the reply's commitment"));
        }
        Ok(Agreement { key: self.key, nonce_a: *nonce_a, nonce_b: self.nonce_b })
    }
}

/// The inviter's side of one attempt.
pub struct InviterAttempt {
    key: SessionKey,
    transcript: Vec<u8>,
    nonce_a: [u8; 32],
}

impl InviterAttempt {
    /// Answers a joiner's hello. The code is not known to be right until
    /// [`InviterAttempt::on_confirm`].
    pub fn answer(
        code: &InviteCode,
        me: &str,
        joiner: &str,
        spake_b: &[u8],
    ) -> Result<(InviterAttempt, PairMessage), PairingError> {
        let (a, b) = identities(me, joiner);
        let (state, spake_a) = Spake2::<Ed25519Group>::start_a(&code.password(), &a, &b);
        let key = SessionKey(state.finish(spake_b).map_err(|_| PairingError::Malformed("bad key exchange"))?);
        let nonce_a = random_nonce();
        let commit = commitment(&nonce_a);
        let transcript = [transcript(me, joiner, &spake_a, spake_b), commit.to_vec()].concat();
        let confirm = key.mac(b"inviter confirms", &transcript);
        Ok((InviterAttempt { key, transcript, nonce_a }, PairMessage::Reply { spake: spake_a, confirm, commit }))
    }

    /// Checks the joiner's confirmation, and the introduction and nonce it vouches for:
    /// only a joiner who knew the code can make it. Gives what both phones now agree on,
    /// and the nonce to open in the welcome.
    pub fn on_confirm(
        self,
        confirm_b: &[u8; 32],
        joiner: &Introduction,
        nonce_b: &[u8; 32],
        continues: bool,
    ) -> Result<(Agreement, [u8; 32]), PairingError> {
        let t = [self.transcript.as_slice(), &joiner.transcript_part(), nonce_b, &flag(continues)].concat();
        if !self.key.verify(b"joiner confirms", &t, confirm_b) {
            return Err(PairingError::WrongCode);
        }
        Ok((Agreement { key: self.key, nonce_a: self.nonce_a, nonce_b: *nonce_b }, self.nonce_a))
    }
}

/// What the confirmation adds to the transcript for a joiner that continues: nothing
/// otherwise, so an ordinary pairing's transcript is as before.
fn flag(continues: bool) -> Vec<u8> {
    if continues { vec![1] } else { Vec::new() }
}

/// Short, common, distinct words for the safety check.
const WORDS: [&str; 64] = [
    "apple", "river", "candle", "garden", "pepper", "meadow", "violin", "harbor", "maple", "lantern", "pebble",
    "orchid", "tiger", "marble", "canyon", "feather", "island", "jacket", "kettle", "lemon", "mirror", "nectar",
    "olive", "pillow", "quartz", "ribbon", "saddle", "thimble", "umbrella", "velvet", "walnut", "yellow", "anchor",
    "bamboo", "cactus", "dolphin", "ember", "falcon", "glacier", "hazel", "igloo", "juniper", "koala", "lagoon",
    "mango", "nutmeg", "otter", "parrot", "quiver", "raven", "sparrow", "tulip", "unicorn", "valley", "willow",
    "zebra", "biscuit", "cobalt", "daisy", "eagle", "fern", "ginger", "honey", "indigo",
];

// ----- How an attempt ends -----

/// Which side of a pairing this phone took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Inviter,
    Joiner,
}

impl Role {
    /// The side the other phone took.
    pub fn other(self) -> Role {
        match self {
            Role::Inviter => Role::Joiner,
            Role::Joiner => Role::Inviter,
        }
    }
}

/// How a pairing attempt ended, from this phone's side.
#[derive(Debug)]
pub enum PairOutcome {
    Paired(PairedWith),
    Failed(PairFailure),
}

/// Who a pairing was with, as the other phone introduced itself, and what both phones
/// now share: the safety words and the couple id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedWith {
    /// The other phone's introduction, its name made safe to show.
    pub who: Introduction,
    pub words: [&'static str; 4],
    pub couple: [u8; 16],
    pub network: CoupleNetwork,
    /// Set when the pairing continues a shared document: on the inviting phone, which of
    /// its past pairings; on both, the heads of that document's history.
    pub continued: Option<Continued>,
}

/// A shared document a pairing continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continued {
    /// The inviting phone's past pairing it takes back (`None` on the joining phone).
    pub past: Option<i64>,
    pub heads: Vec<[u8; 32]>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairFailure {
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error("the invite has expired; ask your partner to make a new one")]
    Expired,
    #[error("the invite was cancelled after five wrong codes; ask your partner to make a new one")]
    TooManyTries,
    #[error("your partner's phone is busy with another pairing attempt; try again in a moment")]
    Busy,
    #[error("the other phone stopped answering: {0}")]
    Gone(String),
    #[error(
        "your partner's phone holds no shared history with you to continue; pair without continuing to start a new one"
    )]
    NothingToContinue,
    #[error("your partner's phone did not continue the shared history this phone asked to continue")]
    NotContinued,
}

impl From<Refusal> for PairFailure {
    fn from(reason: Refusal) -> Self {
        match reason {
            Refusal::WrongCode => PairFailure::Pairing(PairingError::WrongCode),
            Refusal::Expired => PairFailure::Expired,
            Refusal::TooManyTries => PairFailure::TooManyTries,
            Refusal::Busy => PairFailure::Busy,
            Refusal::NothingToContinue => PairFailure::NothingToContinue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every letter of a code is drawn from the whole alphabet, evenly. (Cut from a
    /// UUID, the seventh letter came from its version nibble: 16 letters, not 31.)
    #[test]
    fn every_letter_of_an_invite_code_is_drawn_evenly_from_the_whole_alphabet() {
        let per_letter = 300;
        let mut counts = [[0u32; 31]; 8];
        for _ in 0..31 * per_letter {
            let code = InviteCode::random();
            for (position, c) in code.0.iter().enumerate() {
                counts[position][ALPHABET.iter().position(|a| a == c).unwrap()] += 1;
            }
        }
        for (position, letters) in counts.iter().enumerate() {
            let (least, most) = (letters.iter().min().unwrap(), letters.iter().max().unwrap());
            // Six standard deviations either way of 300.
            assert!(*least > 200 && *most < 400, "letter {position}: from {least} to {most} of each of 31");
        }
        // Bytes of 248 and over would favour the first letters: they are passed over.
        let mut bytes = [255u8, 248, 0, 30, 31, 247, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].into_iter().cycle();
        let code = InviteCode::from_bytes(|buf| buf.iter_mut().for_each(|b| *b = bytes.next().unwrap()));
        assert_eq!(code.to_string(), "2Z2Z-3456");
    }

    #[test]
    fn codes_read_aloud_and_typed_loosely_parse_back() {
        let code = InviteCode::random();
        let text = code.to_string();
        assert_eq!(text.len(), 9);
        assert_eq!(&text[4..5], "-");
        assert_eq!(InviteCode::parse(&text).unwrap(), code);
        assert_eq!(InviteCode::parse(&text.to_lowercase().replace('-', " ")).unwrap(), code);
        assert!(matches!(InviteCode::parse("1234"), Err(PairingError::BadCode(_))));
        assert!(matches!(InviteCode::parse("ABCD-EFG!"), Err(PairingError::BadCode(_))));
    }

    fn blair() -> Introduction {
        Introduction { name: "Blair".into(), person: PersonId::new(), actor: vec![7; 16] }
    }

    fn pair(code_a: &InviteCode, code_b: &InviteCode) -> Result<(Agreement, Agreement), PairingError> {
        let (joiner, hello) = Joiner::start(code_b, "peer-a", "peer-b");
        let PairMessage::Hello { spake } = PairMessage::decode(&hello.encode())? else { unreachable!() };
        let (attempt, reply) = InviterAttempt::answer(code_a, "peer-a", "peer-b", &spake)?;
        let PairMessage::Reply { spake, confirm, commit } = PairMessage::decode(&reply.encode())? else {
            unreachable!()
        };
        let me = blair();
        let (joined, confirm_msg) = joiner.on_reply(&spake, &confirm, &commit, &me, false)?;
        let PairMessage::Confirm { confirm, who, nonce, .. } = PairMessage::decode(&confirm_msg.encode())? else {
            unreachable!()
        };
        assert_eq!(who, me);
        let (agreed_a, nonce_a) = attempt.on_confirm(&confirm, &who, &nonce, false)?;
        let welcome = PairMessage::Welcome { who: blair(), nonce: nonce_a, history: vec![] };
        let PairMessage::Welcome { nonce, .. } = PairMessage::decode(&welcome.encode())? else { unreachable!() };
        Ok((agreed_a, joined.on_welcome(&nonce)?))
    }

    #[test]
    fn the_same_code_pairs_and_both_phones_show_the_same_words_and_couple() {
        let code = InviteCode::random();
        let (a, b) = pair(&code, &code).unwrap();
        assert_eq!(a.safety_words(), b.safety_words());
        assert_eq!(a.couple_id(), b.couple_id());
        let (again, _) = pair(&code, &code).unwrap();
        assert_ne!(again.couple_id(), a.couple_id(), "a new pairing of the same phones is a new couple");
    }

    /// An honest exchange with the same code, up to the joiner's confirmation.
    struct Confirmed {
        attempt: InviterAttempt,
        joined: JoinerConfirmed,
        confirm: [u8; 32],
        who: Introduction,
        nonce: [u8; 32],
    }

    fn up_to_the_confirmation() -> Confirmed {
        let code = InviteCode::random();
        let (joiner, PairMessage::Hello { spake }) = Joiner::start(&code, "peer-a", "peer-b") else { unreachable!() };
        let (attempt, PairMessage::Reply { spake, confirm, commit }) =
            InviterAttempt::answer(&code, "peer-a", "peer-b", &spake).unwrap()
        else {
            unreachable!()
        };
        let (joined, PairMessage::Confirm { confirm, who, nonce, .. }) =
            joiner.on_reply(&spake, &confirm, &commit, &blair(), false).unwrap()
        else {
            unreachable!()
        };
        Confirmed { attempt, joined, confirm, who, nonce }
    }

    #[test]
    fn a_confirmation_vouches_for_the_introduction_it_came_with() {
        let Confirmed { attempt, confirm, who, nonce, .. } = up_to_the_confirmation();
        let forged = Introduction { actor: vec![9; 16], ..who };
        assert!(matches!(attempt.on_confirm(&confirm, &forged, &nonce, false), Err(PairingError::WrongCode)));
    }

    /// Someone in the middle who knows the code (read over a shoulder) runs the exchange
    /// with each phone, and tries to make both screens show the same words. It pairs
    /// with the inviter first, so it knows the words that phone shows; then, answering
    /// the joiner, it tries up to 64 key shares and nonces and keeps one whose words,
    /// as far as it can tell them at that moment, start with the same word. It can't
    /// tell: the joiner's nonce, which the words also come from, is sent only after
    /// the reply. So it does no better than chance: a first word in common about once
    /// in 64 rounds, all four words about once in 2^24.
    #[test]
    fn someone_in_the_middle_who_knows_the_code_gets_one_guess_at_the_words() {
        let (rounds, tries) = (40, 64);
        let (mut first, mut all, mut aimed_before) = (0, 0, 0);
        let mallory = Introduction { name: "Blair".into(), person: PersonId::new(), actor: vec![6; 16] };
        for _ in 0..rounds {
            let code = InviteCode::random();
            // With the inviter, as a joiner, to the end.
            let (m_joiner, PairMessage::Hello { spake }) = Joiner::start(&code, "peer-a", "peer-m") else {
                unreachable!()
            };
            let (a_attempt, PairMessage::Reply { spake, confirm, commit }) =
                InviterAttempt::answer(&code, "peer-a", "peer-m", &spake).unwrap()
            else {
                unreachable!()
            };
            let (_, PairMessage::Confirm { confirm, who, nonce, .. }) =
                m_joiner.on_reply(&spake, &confirm, &commit, &mallory, false).unwrap()
            else {
                unreachable!()
            };
            let agreed_a = a_attempt.on_confirm(&confirm, &who, &nonce, false).unwrap().0;
            let words_a = agreed_a.safety_words();

            // With the joiner, as the inviter, choosing its reply.
            let (b_joiner, PairMessage::Hello { spake: hello_b }) = Joiner::start(&code, "peer-m", "peer-b") else {
                unreachable!()
            };
            // The control: had the words come from the key alone, as before version 3, the
            // same aiming would work, since the key is all fixed when the reply is sent.
            for _ in 0..tries {
                let (attempt, _) = InviterAttempt::answer(&code, "peer-m", "peer-b", &hello_b).unwrap();
                if words_from_key_alone(&attempt.key)[0] == words_from_key_alone(&agreed_a.key)[0] {
                    aimed_before += 1;
                    break;
                }
            }
            let mut chosen = None;
            for _ in 0..tries {
                let (attempt, reply) = InviterAttempt::answer(&code, "peer-m", "peer-b", &hello_b).unwrap();
                // All it knows then of the words: its key and its own nonce.
                let guess = safety_words(&attempt.key, &attempt.nonce_a, &[0; 32]);
                let hit = guess[0] == words_a[0];
                chosen = Some((attempt, reply));
                if hit {
                    break;
                }
            }
            let Some((attempt, PairMessage::Reply { spake, confirm, commit })) = chosen else { unreachable!() };
            let (b_joined, PairMessage::Confirm { confirm, who, nonce, .. }) =
                b_joiner.on_reply(&spake, &confirm, &commit, &blair(), false).unwrap()
            else {
                unreachable!()
            };
            let (_, opened) = attempt.on_confirm(&confirm, &who, &nonce, false).unwrap();
            let words_b = b_joined.on_welcome(&opened).unwrap().safety_words();
            first += u32::from(words_b[0] == words_a[0]);
            all += u32::from(words_b == words_a);
        }
        eprintln!("first word in common: {first} of {rounds}; aimed at words from the key alone: {aimed_before}");
        assert_eq!(all, 0, "all four words matched");
        // Chance gives 0.6 in 40 rounds; aiming, where it works, about 25 (1 - (63/64)^64).
        assert!(first <= 5, "the first word matched in {first} of {rounds} rounds");
        assert!(aimed_before >= 14, "aiming at words from the key alone hit in {aimed_before} of {rounds} rounds");
    }

    /// The safety words as version 2 made them: from the session key alone.
    fn words_from_key_alone(key: &SessionKey) -> [&'static str; 4] {
        let hk = Hkdf::<Sha256>::new(None, &key.0);
        let mut okm = [0u8; 4];
        hk.expand(b"steady safety words", &mut okm).unwrap();
        words_of(okm)
    }

    /// The inviter can't choose its nonce after seeing the joiner's: a welcome that opens
    /// another nonce than the one committed to is refused.
    #[test]
    fn a_welcome_must_open_the_nonce_the_reply_committed_to() {
        let Confirmed { attempt, joined, confirm, who, nonce } = up_to_the_confirmation();
        let (_, mut opened) = attempt.on_confirm(&confirm, &who, &nonce, false).unwrap();
        opened[0] ^= 1;
        assert!(matches!(joined.on_welcome(&opened), Err(PairingError::Malformed(_))));
    }

    #[test]
    fn a_wrong_code_is_caught() {
        let code = InviteCode::parse("7KQM-4T2X").unwrap();
        let other = InviteCode::parse("7KQM-4T2Y").unwrap();
        assert!(matches!(pair(&code, &other), Err(PairingError::WrongCode)));
    }

    #[test]
    fn malformed_messages_are_refused_not_panicked_on() {
        for bytes in [
            &b""[..],
            &[3],
            &[2, 1, 0, 0],
            &[3, 1, 0, 5, 1],
            &[3, 9],
            &[3, 5, 9],
            &[3, 4, 0, 1, 0xff],
            &[3, 5, 1, 0],
            &[2, 5, 1],
        ] {
            assert!(PairMessage::decode(bytes).is_err(), "{bytes:?}");
        }
        assert_eq!(PairMessage::decode(&vec![2; MAX_MESSAGE + 1]), Err(PairingError::TooLong(MAX_MESSAGE + 1)));
        let msg = PairMessage::Welcome {
            who: Introduction { name: "Alex".into(), person: PersonId::new(), actor: vec![1; 16] },
            nonce: [4; 32],
            history: vec![],
        };
        let bytes = msg.encode();
        assert_eq!(PairMessage::decode(&bytes).unwrap(), msg);
        // Cut anywhere, or with a byte more, it is refused.
        for end in 0..bytes.len() {
            assert!(PairMessage::decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        assert!(PairMessage::decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        // A device id of no bytes, or too many, is refused.
        for actor in [vec![], vec![1; MAX_ACTOR + 1]] {
            let mut who = Introduction { name: "Alex".into(), person: PersonId::new(), actor: vec![1] };
            let mut bytes = PairMessage::Welcome { who: who.clone(), nonce: [4; 32], history: vec![] }.encode();
            bytes.truncate(bytes.len() - 3 - 32);
            put_bytes(&mut bytes, &actor);
            bytes.extend_from_slice(&[4; 32]);
            who.actor = actor;
            assert!(PairMessage::decode(&bytes).is_err(), "{who:?}");
        }
    }

    /// A joiner's wish to continue is covered by its confirmation: flipped on the way, the
    /// inviter refuses it as a wrong code. The welcome's history reads back whole.
    #[test]
    fn continuing_is_confirmed_and_the_history_reads_back() {
        let Confirmed { attempt, confirm, who, nonce, .. } = up_to_the_confirmation();
        assert!(matches!(attempt.on_confirm(&confirm, &who, &nonce, true), Err(PairingError::WrongCode)));
        let msg = PairMessage::Confirm { confirm: [1; 32], who: blair(), nonce: [2; 32], continues: true };
        assert_eq!(PairMessage::decode(&msg.encode()).unwrap(), msg);
        let mut flag = msg.encode();
        *flag.last_mut().unwrap() = 2;
        assert!(PairMessage::decode(&flag).is_err(), "an unknown flag");
        let msg = PairMessage::Welcome { who: blair(), nonce: [4; 32], history: vec![[5; 32], [6; 32]] };
        let bytes = msg.encode();
        assert_eq!(PairMessage::decode(&bytes).unwrap(), msg);
        assert!(PairMessage::decode(&bytes[..bytes.len() - 1]).is_err(), "a head cut short");
        let mut too_many = bytes[..bytes.len() - 65].to_vec();
        too_many.push(MAX_HEADS as u8 + 1);
        too_many.extend(std::iter::repeat_n(7, 32 * (MAX_HEADS + 1)));
        assert!(PairMessage::decode(&too_many).is_err(), "more heads than a history has");
    }
}
