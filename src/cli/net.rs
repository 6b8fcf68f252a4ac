//! The network commands: pair (invite, join, confirm, reject), sync, status, pause,
//! resume, unpair.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use libp2p::Multiaddr;

use super::open;
use crate::net::invite::Invitation;
use crate::net::{NetConfig, NetEvent, NetStatus, Node, PairingState, addresses, courier, daily, peers};

/// How long `pair join` looks for the inviting phone.
const JOIN_WAIT: Duration = Duration::from_secs(60);

#[derive(Subcommand, Debug)]
pub enum PairAction {
    /// Show an invite code and wait for your partner to type it (ten minutes at most).
    Invite {
        #[command(flatten)]
        net: NetArgs,
    },
    /// Join your partner's invite with the code (or the link) their phone shows.
    Join {
        code: String,
        /// Your partner's address, as their screen shows it, when discovery can't find it.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// After restoring this phone from a backup: continue the couple's shared history
        /// instead of starting a new one. Your partner's phone sends it again once you both
        /// confirm the words.
        #[arg(long = "continue")]
        continues: bool,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Both phones show the same four words: start syncing with your partner.
    Confirm,
    /// The words differ: forget this pairing. Your partner's phone is not told.
    Reject,
}

#[derive(Subcommand, Debug)]
pub enum RelayAction {
    /// Run a home relay in --data-dir (its own folder, with nothing personal in it): it
    /// holds sealed letters for the couples it serves until their phones fetch them.
    Serve {
        /// Stop after this many seconds; without it, run until interrupted.
        #[arg(long = "for", value_name = "SECS")]
        for_secs: Option<f64>,
        /// Print one JSON object per line for each event.
        #[arg(long)]
        json: bool,
        /// Print a code (`code: CODE`, good for 10 minutes) to add this relay from a phone.
        #[arg(long)]
        invite: bool,
        /// Where to accept connections, as HOST:PORT (or a multiaddr).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Add the home relay whose code `relay serve --invite` printed; your partner's phone
    /// learns of it at your next exchange.
    Add {
        code: String,
        /// The relay's address, when the code's addresses can't be reached.
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
    },
    /// Remove one of the couple's relays (either of you may remove any): it forgets you.
    Remove { id: String },
}

/// How long a command that runs on (`sync`, `courier`) runs, and how it prints.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Stop after this many seconds; without it, run until interrupted.
    #[arg(long = "for", value_name = "SECS")]
    pub for_secs: Option<f64>,
    /// Print one JSON object per line for each event.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Default)]
pub struct NetArgs {
    /// Don't look for your partner's phone with mDNS; only --dial and remembered
    /// addresses are used.
    #[arg(long)]
    pub no_discovery: bool,
    /// Where to accept connections, as HOST:PORT (or a multiaddr).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Connect to your partner's phone at this address.
    #[arg(long, value_name = "HOST:PORT")]
    pub dial: Option<String>,
}

impl NetArgs {
    fn config(&self) -> Result<NetConfig> {
        let mut config = NetConfig { discovery: !self.no_discovery, ..NetConfig::default() };
        if let Some(listen) = &self.listen {
            config.listen.push(listen_address(listen)?);
        }
        if let Some(dial) = &self.dial {
            config.dial.push(addresses::parse_host_port(dial).map_err(|e| anyhow!("can't connect to {dial}: {e}"))?);
        }
        Ok(config)
    }
}

/// `HOST:PORT` or a multiaddr, as an address to listen on. Any address of this device is
/// fine here: listening dials nobody.
pub fn listen_address(text: &str) -> Result<Multiaddr> {
    if text.starts_with('/') {
        return text.parse().with_context(|| format!("{text:?} is not an address to listen on"));
    }
    let socket: std::net::SocketAddr =
        text.parse().with_context(|| format!("{text:?} is not an address to listen on, like 0.0.0.0:4001"))?;
    Ok(addresses::from_socket(socket))
}

/// One thread for the network, as the window has: an idle phone's few events (a ping, an
/// mDNS query) wake one thread, not a pool of them. The journal has its own thread.
pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("the network could not start")
}

fn json_line(out: &mut dyn Write, json: &str) -> Result<()> {
    writeln!(out, "{}", crate::model::text::terminal_safe_json(json))?;
    out.flush()?;
    Ok(())
}

pub(super) fn line(out: &mut dyn Write, text: &str) -> Result<()> {
    // Events carry names and reasons from the other phone.
    writeln!(out, "{}", crate::model::text::terminal_safe(text))?;
    out.flush()?;
    Ok(())
}

pub fn pair(data_dir: &Path, action: PairAction, out: &mut dyn Write) -> Result<()> {
    // Everything typed is checked before anything starts.
    let (net, join) = match action {
        PairAction::Confirm => return confirm(data_dir, out),
        PairAction::Reject => return reject(data_dir, out),
        PairAction::Invite { net } => (net, None),
        PairAction::Join { code, addr, continues, net } => {
            let mut invitation = Invitation::parse(&code)?;
            invitation.continues = continues;
            if let Some(addr) = addr {
                let address =
                    addresses::parse_host_port(&addr).map_err(|e| anyhow!("can't reach partner at {addr}: {e}"))?;
                invitation.addresses.insert(0, address);
            }
            (net, Some(invitation))
        }
    };
    let config = net.config()?;
    let mut store = open(data_dir)?;
    if store.me().is_none() {
        bail!("set up this phone first: steady init --name NAME");
    }
    peers::forget_untrusted(&mut store)?;
    runtime()?.block_on(async move {
        let node = Node::start(store, config).await?;
        let mut events = node.subscribe();
        match join {
            None => {
                // Let the listeners report their addresses, so the link can name them.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let link = node.invite().await?;
                line(out, &format!("code: {}", link.code))?;
                line(out, &format!("link: {}", link.to_link()))?;
                line(out, "Waiting for your partner to type the code (this invite lasts 10 minutes)…")?;
                loop {
                    match events.recv().await {
                        Ok(NetEvent::Paired { name, safety_words, continued, .. }) => {
                            if continued {
                                line(
                                    out,
                                    &format!(
                                        "{name} restored Steady from a backup: this pairing continues your shared history."
                                    ),
                                )?;
                            }
                            print_paired(out, &name, &safety_words)?;
                            break;
                        }
                        Ok(NetEvent::InviteEnded { reason }) => bail!("the invite ended: {reason}"),
                        Ok(NetEvent::Refused { reason, .. }) => line(out, &format!("A try failed: {reason}"))?,
                        Ok(_) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => bail!("the network stopped"),
                    }
                }
            }
            Some(invitation) => {
                let continues = invitation.continues;
                line(out, "Looking for your partner's invite…")?;
                let paired = tokio::time::timeout(JOIN_WAIT, node.join(invitation)).await.map_err(|_| {
                    anyhow!(
                        "no invite found on this network in {} seconds; check that both phones are on the same \
                         Wi-Fi, or use --addr with the address your partner's screen shows",
                        JOIN_WAIT.as_secs()
                    )
                })??;
                let words: Vec<String> = paired.safety_words.iter().map(|w| (*w).to_owned()).collect();
                if continues {
                    line(
                        out,
                        &format!(
                            "This pairing continues your shared history: {}'s phone sends it once you both confirm.",
                            paired.name
                        ),
                    )?;
                }
                print_paired(out, &paired.name, &words)?;
            }
        }
        // Give the last pairing message time to leave before the network stops.
        tokio::time::sleep(Duration::from_millis(200)).await;
        node.shutdown().await;
        Ok(())
    })
}

fn print_paired(out: &mut dyn Write, name: &str, words: &[String]) -> Result<()> {
    line(out, &format!("paired with {name}"))?;
    line(out, &format!("safety words: {}", words.join(" ")))?;
    line(out, &format!("words: {}", words.join(" ")))?;
    line(out, "Check that your partner's phone shows the same four words, by voice or in person.")?;
    line(
        out,
        "Nothing syncs until you do: run `steady pair confirm` if they match, or `steady pair reject` if they don't.",
    )
}

fn confirm(data_dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    let Some(before) = peers::partner(&store)? else {
        bail!("this phone isn't paired with anyone yet, so there are no words to confirm")
    };
    if before.confirmed {
        return line(out, &format!("The words were already confirmed; this phone syncs with {}.", before.name));
    }
    peers::confirm(&mut store)?;
    let text = if peers::partner_confirmed(&store, &before)? {
        format!("Confirmed. This phone now syncs with {}.", before.name)
    } else {
        format!("Confirmed. This phone syncs with {} once their phone confirms the words too.", before.name)
    };
    line(out, &text)
}

fn reject(data_dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    let Some(partner) = peers::partner(&store)? else { bail!("this phone isn't paired with anyone yet") };
    if partner.confirmed {
        bail!("the words were already confirmed with {}; to end this pairing, use `steady unpair`", partner.name);
    }
    peers::reject(&mut store)?;
    line(
        out,
        &format!(
            "Forgot the pairing with {}. Nothing was exchanged, and their phone is not told. Pair again when you're \
             together.",
            partner.name
        ),
    )
}

/// `--for SECS`, checked.
fn limit(for_secs: Option<f64>) -> Result<Option<Duration>> {
    match for_secs {
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => bail!("--for takes a number of seconds above zero, not {s}"),
        None => Ok(None),
    }
}

/// `steady relay serve|add|remove`.
pub fn relay(data_dir: &Path, action: RelayAction, out: &mut dyn Write) -> Result<()> {
    use crate::net::relay;
    match action {
        RelayAction::Serve { for_secs, json, invite, listen } => {
            let limit = limit(for_secs)?;
            let mut config = NetConfig { discovery: false, ..NetConfig::default() };
            if let Some(listen) = &listen {
                config.listen.push(listen_address(listen)?);
            }
            runtime()?.block_on(async move {
                let (events, mut heard) = tokio::sync::broadcast::channel(256);
                let (codes, mut code) = tokio::sync::mpsc::unbounded_channel();
                let dir = data_dir.to_path_buf();
                let running =
                    tokio::spawn(async move { relay::serve(&dir, config, limit, invite, events, codes).await });
                let interrupted = tokio::signal::ctrl_c();
                tokio::pin!(interrupted);
                loop {
                    tokio::select! {
                        Some(code) = code.recv() => line(out, &format!("code: {code}"))?,
                        event = heard.recv() => match event {
                            Ok(event) => {
                                print_event(out, &event, json)?;
                                if matches!(event, NetEvent::CourierEnded { .. }) {
                                    break;
                                }
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                            Err(_) => break,
                        },
                        _ = &mut interrupted => break,
                    }
                }
                if running.is_finished() {
                    running.await.map_err(|e| anyhow!("the relay stopped: {e}"))??;
                } else {
                    running.abort();
                }
                Ok(())
            })
        }
        RelayAction::Add { code, addr } => {
            let extra = match &addr {
                Some(a) => {
                    Some(addresses::parse_host_port(a).map_err(|e| anyhow!("can't reach the relay at {a}: {e}"))?)
                }
                None => None,
            };
            relay::parse_code(&code)?;
            let mut store = open(data_dir)?;
            let (secret, role) = relay::couple_secret(&store)?;
            let entry = runtime()?.block_on(relay::join(&secret, role, &code, extra))?;
            relay::record_added(&mut store, &entry)?;
            line(
                out,
                &format!("Added the home relay {}. Your partner's phone learns of it at your next exchange.", entry.id),
            )
        }
        RelayAction::Remove { id } => {
            let mut store = open(data_dir)?;
            let (secret, role) = relay::couple_secret(&store)?;
            let gone = relay::record_removed(&mut store, &id)?;
            let mine = relay::relay_key(&secret, role)?;
            let told = runtime()?
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), relay::forget(mine, &gone)).await });
            let said = match told {
                Ok(Ok(())) => "It holds nothing of yours now.",
                _ => "It could not be reached: it deletes what it holds for you within 30 days.",
            };
            line(out, &format!("Removed the home relay {id}. {said}"))
        }
    }
}

/// `steady courier`: letters carried with the journal locked. Reads no passcode.
/// With `until_sent` it stops once no letter waits here any more.
pub fn courier(data_dir: &Path, run: RunArgs, until_sent: bool, net: NetArgs, out: &mut dyn Write) -> Result<()> {
    let (limit, json) = (limit(run.for_secs)?, run.json);
    let config = net.config()?;
    courier::read_profile(data_dir)?;
    runtime()?.block_on(async move {
        let (events, mut heard) = tokio::sync::broadcast::channel(256);
        let data_dir = data_dir.to_path_buf();
        let dir = data_dir.to_path_buf();
        let running = tokio::spawn(async move { courier::run(&data_dir, config, limit, events).await });
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        let mut look = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = look.tick(), if until_sent => if !courier::letters_waiting(&dir) {
                    print_event(out, &NetEvent::CourierEnded { reason: "every letter has left".to_owned() }, json)?;
                    break;
                },
                event = heard.recv() => match event {
                    Ok(event) => {
                        print_event(out, &event, json)?;
                        if matches!(event, NetEvent::CourierEnded { .. }) {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} events were not printed");
                    }
                    Err(_) => break,
                },
                _ = &mut interrupted => {
                    print_event(out, &NetEvent::CourierEnded { reason: "interrupted".to_owned() }, json)?;
                    break;
                }
            }
        }
        if running.is_finished() {
            running.await.map_err(|e| anyhow!("the courier stopped: {e}"))??;
        } else {
            running.abort();
        }
        Ok(())
    })
}

pub fn sync(data_dir: &Path, for_secs: Option<f64>, json: bool, net: NetArgs, out: &mut dyn Write) -> Result<()> {
    let limit = limit(for_secs)?;
    let config = net.config()?;
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    if peers::partner(&store)?.is_none() {
        bail!(
            "this phone isn't paired yet: run `steady pair invite` on one phone and `steady pair join CODE` on the other"
        );
    }
    runtime()?.block_on(async move {
        let node = Node::start(store, config).await?;
        let mut events = node.subscribe();
        let deadline = async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                event = events.recv() => match event {
                    Ok(event) => print_event(out, &event, json)?,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("{n} events were not printed");
                    }
                    Err(_) => break,
                },
            }
        }
        node.shutdown().await;
        Ok(())
    })
}

fn print_event(out: &mut dyn Write, event: &NetEvent, json: bool) -> Result<()> {
    if json {
        return json_line(out, &serde_json::to_string(event)?);
    }
    let text = match event {
        NetEvent::Listening { address } => format!("listening on {address}"),
        NetEvent::Discovered { address, .. } => format!("found your partner's phone at {address}"),
        NetEvent::Connected { .. } => "connected to your partner's phone".to_owned(),
        NetEvent::Synced { at, received, .. } => {
            format!("synced at {} ({received} changes received)", at.with_timezone(&chrono::Local).format("%H:%M"))
        }
        NetEvent::Disconnected { reason, .. } => format!("disconnected: {reason}"),
        NetEvent::Refused { reason, .. } => format!("turned away a device: {reason}"),
        NetEvent::Unreachable { address, reason } => format!("can't reach partner at {address}: {reason}"),
        NetEvent::Paired { name, .. } => format!("paired with {name}"),
        NetEvent::InviteEnded { reason } => format!("the invite ended: {reason}"),
        NetEvent::LetterSent { bytes } => format!("a sealed letter left this phone ({bytes} bytes)"),
        NetEvent::LetterReceived { bytes } => format!("a sealed letter arrived ({bytes} bytes)"),
        NetEvent::CourierEnded { reason } => format!("stopped: {reason}"),
        NetEvent::LetterStored { bytes } => format!("kept a sealed letter ({bytes} bytes)"),
        NetEvent::LetterFetched { bytes } => format!("a sealed letter was fetched ({bytes} bytes)"),
    };
    line(out, &text)
}

pub fn status(data_dir: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    let mut status = NetStatus::at_rest(&store)?;
    // Who the two phones are on the network today (a running node says the same).
    let (me, theirs) = daily::peers_on(&store, chrono::Utc::now().date_naive())?;
    status.peer_id = me.map(|p| p.to_base58());
    if let (Some(view), Some(peer)) = (status.partner.as_mut(), theirs) {
        view.peer_id = peer.to_base58();
    }
    let past = store.past_documents()?;
    if json {
        let mut value = serde_json::to_value(&status)?;
        value["past_pairings"] = past
            .iter()
            .map(|p| serde_json::json!({ "id": p.id, "partner": p.partner, "ended_at": p.ended_at }))
            .collect::<Vec<_>>()
            .into();
        return json_line(out, &value.to_string());
    }
    match &status.partner {
        None => line(out, "Not paired yet.")?,
        Some(p) => line(out, &format!("Paired with {}{}.", p.name, if status.paused { " (sync paused)" } else { "" }))?,
    }
    if let Some(p) = &status.partner
        && let Some(at) = p.moved_at
    {
        let on = at.with_timezone(&chrono::Local).date_naive();
        line(out, &crate::model::text::partner_moved_line(&p.name, on, p.restored))?;
    }
    if let Some(at) = status.last_synced {
        line(out, &format!("Last synced {}.", at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M")))?;
    }
    if status.partner.is_some() {
        line(out, &format!("{} shared changes not yet sent.", status.unsent_changes))?;
    }
    for relay in &status.relays {
        let by = if relay.added_by == "me" { "you" } else { "your partner" };
        line(out, &format!("Home relay {}, added by {by}.", relay.id))?;
    }
    let name = status.partner.as_ref().map(|p| p.name.as_str()).unwrap_or("your partner");
    match status.pairing {
        PairingState::Unconfirmed => {
            let words = peers::partner(&store)?.map(|p| p.safety_words.join(" ")).unwrap_or_default();
            line(out, &format!("The safety words are not checked yet: {words}."))?;
            line(out, "Run `steady pair confirm` if both phones show them, or `steady pair reject` if not.")?;
        }
        PairingState::Confirmed if !status.partner_confirmed => {
            line(out, &format!("Waiting for {name} to check the safety words on their phone."))?;
        }
        _ => {}
    }
    if let Some(reason) = &status.stopped {
        line(out, &format!("{reason} Run `steady resume` only if you trust that phone again."))?;
    }
    for p in &past {
        let ended = p.ended_at.with_timezone(&chrono::Local).format("%Y-%m-%d");
        line(out, &format!("A past pairing with {}, ended {ended}.", p.partner))?;
    }
    if let Some(bytes) = status.shared_document_too_big {
        let why = crate::store::StoreError::DocumentTooBig { bytes, limit: crate::store::MAX_OPENED };
        line(out, &format!("Note: {why}."))?;
    }
    Ok(())
}

pub fn set_paused(data_dir: &Path, paused: bool, out: &mut dyn Write) -> Result<()> {
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    let Some(partner) = peers::partner(&store)? else { bail!("this phone isn't paired with anyone yet") };
    peers::set_paused(&mut store, paused)?;
    let text = if paused {
        format!("Sync with {} is paused. Nothing is sent or received until you resume.", partner.name)
    } else {
        format!("Sync with {} is on again.", partner.name)
    };
    line(out, &text)
}

pub fn unpair(data_dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut store = open(data_dir)?;
    peers::forget_untrusted(&mut store)?;
    let profile = courier::read_profile(data_dir).ok();
    let Some(partner) = peers::unpair(&mut store)? else { bail!("this phone isn't paired with anyone yet") };
    line(out, &format!("This phone no longer syncs with {}. Every entry stays here.", partner.name))?;
    for said in profile.as_ref().map(crate::net::relay::forget_all).unwrap_or_default() {
        line(out, &said)?;
    }
    if partner.confirmed {
        line(
            out,
            &format!(
                "What you shared is private again; what {} shared is kept apart, read-only, as \
                 \"From your time with {}\". A new pairing starts with nothing shared, unless {} restored \
                 Steady from a backup and joins with --continue: then this history continues.",
                partner.name, partner.name, partner.name
            ),
        )?;
    }
    Ok(())
}
