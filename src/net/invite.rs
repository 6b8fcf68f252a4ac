//! What an invite carries from one phone to the other: the code read aloud, or a pairing
//! link (also drawn as a QR code) that adds the inviting phone's identity and addresses,
//! for networks where discovery is blocked.
//!
//! A link looks like `steady://pair/7KQM-4T2X?peer=12D3Koo…&addr=/ip4/192.168.1.20/tcp/4001`.

use libp2p::{Multiaddr, PeerId};

use super::addresses::{IN_AN_INVITATION, is_local};
use super::pairing::{InviteCode, PairingError};

const SCHEME: &str = "steady://pair/";

/// The longest link read, so a pasted wall of text is refused at once.
pub const MAX_LINK: usize = 2048;

/// What a joining phone was given: at least the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub code: InviteCode,
    pub peer: Option<PeerId>,
    pub addresses: Vec<Multiaddr>,
    /// Whether joining asks to continue the couple's shared document (after a restore
    /// from a backup). Chosen on the joining phone; never part of the code or link.
    pub continues: bool,
}

impl Invitation {
    /// Reads what a person typed or pasted: a bare code, or a whole link.
    pub fn parse(text: &str) -> Result<Invitation, PairingError> {
        let text = text.trim();
        if text.len() > MAX_LINK {
            return Err(PairingError::BadLink("it is far too long"));
        }
        let Some(rest) = text.strip_prefix(SCHEME) else {
            return Ok(Invitation {
                code: InviteCode::parse(text)?,
                peer: None,
                addresses: Vec::new(),
                continues: false,
            });
        };
        let (code, query) = rest.split_once('?').unwrap_or((rest, ""));
        let code = InviteCode::parse(code)?;
        let mut invitation = Invitation { code, peer: None, addresses: Vec::new(), continues: false };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or(PairingError::BadLink("a part has no value"))?;
            match key {
                "peer" => {
                    let peer = value.parse().map_err(|_| PairingError::BadLink("the phone's identity is garbled"))?;
                    if invitation.peer.replace(peer).is_some() {
                        return Err(PairingError::BadLink("it names two phones"));
                    }
                }
                "addr" => {
                    let address: Multiaddr =
                        value.parse().map_err(|_| PairingError::BadLink("an address is garbled"))?;
                    // A link is only for phones nearby; anything else is ignored, never dialed.
                    if is_local(&address) && invitation.addresses.len() < IN_AN_INVITATION {
                        invitation.addresses.push(address);
                    }
                }
                _ => {} // Later versions may add parts; this one reads what it knows.
            }
        }
        Ok(invitation)
    }

    /// The link as text, for the QR code and for copying.
    pub fn to_link(&self) -> String {
        let mut out = format!("{SCHEME}{}", self.code);
        let mut sep = '?';
        if let Some(peer) = &self.peer {
            out.push_str(&format!("{sep}peer={peer}"));
            sep = '&';
        }
        for address in &self.addresses {
            out.push_str(&format!("{sep}addr={address}"));
            sep = '&';
        }
        out
    }

    /// The link drawn as a QR code, in SVG.
    pub fn qr_svg(&self) -> Result<String, String> {
        qr_svg_of(&self.to_link())
    }
}

/// `text` as a QR code, an SVG image, in the app's colours.
pub fn qr_svg_of(text: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#1d2b36"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_and_keeps_only_nearby_addresses() {
        let peer = PeerId::random();
        let link = Invitation {
            code: InviteCode::random(),
            peer: Some(peer),
            addresses: vec!["/ip4/192.168.1.20/tcp/4001".parse().unwrap()],
            continues: false,
        };
        assert_eq!(Invitation::parse(&link.to_link()).unwrap(), link);
        let with_public = format!("{}&addr=/ip4/8.8.8.8/tcp/1", link.to_link());
        assert_eq!(Invitation::parse(&with_public).unwrap().addresses.len(), 1);
        let bare = Invitation::parse(&link.code.to_string()).unwrap();
        assert_eq!((bare.peer, bare.addresses.len()), (None, 0));
        assert!(link.qr_svg().unwrap().starts_with("<?xml"));
    }

    #[test]
    fn garbled_links_are_named() {
        for bad in [
            "steady://pair/NOPE",
            "steady://pair/7KQM-4T2X?peer=xyz",
            "steady://pair/7KQM-4T2X?addr=/nonsense",
            "steady://pair/7KQM-4T2X?peer",
            &"x".repeat(MAX_LINK + 1),
        ] {
            assert!(Invitation::parse(bad).is_err(), "{bad}");
        }
    }
}
