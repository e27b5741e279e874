//! Who may send a leg's media and where its media goes (sans-io): the
//! latching rules of symmetric RTP, hardened (issue 14, items 6 and 7).
//!
//! Symmetric RTP sends to where the peer's packets come from, because a
//! phone behind NAT names a private address in its SDP and only packets
//! sent back to the NAT's mapping reach it. Latching on the first packet
//! from anyone (what a plain `rtp_symmetric`/auto-adjust does, and what
//! Asterisk's `strictrtp` learning only narrows with sequence checks) lets
//! a stranger who guesses the port hear the call and inject key presses.
//! The rule here:
//!
//! - Before latching, a packet is admitted only from the **IP of the SDP
//!   address** (any port: a phone that does not send from its receive port
//!   still works) or from the **IP the signalling came from** (any port:
//!   behind NAT the RTP leaves the same public address as the SIP, from a
//!   port the NAT picked). That is the rule of SBCs' "symmetric latching"
//!   restricted to the addresses the call already names; the signalling
//!   source is the INVITE's source for a caller, the registration's source
//!   for an agent. A stranger elsewhere is dropped and counted, before the
//!   200 (the port is bound while ringing), after it, and after a
//!   re-INVITE.
//! - The first admitted packet of a negotiated payload type latches: from
//!   then on only that exact address (IP and port) is the peer. A
//!   re-INVITE naming a new address moves the expected address and latches
//!   afresh; one naming the same address keeps the latch (and the NAT
//!   mapping it learned).
//! - Where we send: the latched address; before a latch, the SDP address,
//!   but only once the dialog is confirmed (the ACK, which a peer that
//!   forged its source address cannot send: it never sees our To tag), so a
//!   forged INVITE naming a third party (or forged *from* that third party)
//!   reflects no RTP at it; a latched peer may get early media before the
//!   ACK (it proved it sends to us from an address the call names). An SDP
//!   address of `0.0.0.0` (hold, RFC 3264 §8.4) is never sent to.
//! - [`RemotePolicy::SignallingSource`] (`[media] remote_address`): an SDP
//!   address on another IP than the signalling's is neither admitted nor
//!   sent to; media then goes only to where packets from the signalling
//!   source's IP come from ("comedia").

use std::net::{IpAddr, SocketAddr};

/// How far a leg's media may go from its signalling source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemotePolicy {
    /// The SDP address may be on any IP (once the dialog is confirmed):
    /// trunks whose media gateway is not their signalling host, and NAT'd
    /// phones (whose packets come from the signalling IP and latch) alike.
    #[default]
    Any,
    /// Only the signalling source's IP: an SDP address elsewhere is
    /// ignored and media waits for the peer's first packet from that IP.
    SignallingSource,
}

/// What a leg knows of its peer besides the SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerRules {
    /// The IP the peer's signalling comes from; `None`: only the SDP's IP
    /// may send (and the policy has nothing to compare with).
    pub signalling: Option<IpAddr>,
    pub policy: RemotePolicy,
    /// The dialog is confirmed (the ACK came, or we sent it as the UAC):
    /// media may go to an address that has not sent us media yet.
    pub confirmed: bool,
}

impl PeerRules {
    /// No signalling address known, dialog confirmed: packets from the
    /// SDP's IP only, sending to the SDP address from the start (a session
    /// driven directly, as in the benchmarks and media tests).
    pub fn sdp_only() -> Self {
        Self {
            signalling: None,
            policy: RemotePolicy::Any,
            confirmed: true,
        }
    }

    /// A caller's leg before its ACK, or an agent's (already confirmed).
    pub fn new(signalling: IpAddr, policy: RemotePolicy, confirmed: bool) -> Self {
        Self {
            signalling: Some(canonical(signalling)),
            policy,
            confirmed,
        }
    }
}

/// The rules applied to one leg; see the module documentation.
#[derive(Debug, Clone)]
pub struct PeerGuard {
    sdp: SocketAddr,
    rules: PeerRules,
    latched: Option<SocketAddr>,
}

/// An address media may ever be exchanged with: not unspecified, not
/// multicast, not the IPv4 broadcast (the SDP check refuses those with 488;
/// this is the last line).
pub fn is_unicast(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// IPv4-mapped IPv6 (`::ffff:192.0.2.1`) compares as the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

impl PeerGuard {
    pub fn new(sdp: SocketAddr, rules: PeerRules) -> Self {
        Self {
            sdp,
            rules,
            latched: None,
        }
    }

    /// Whether the SDP address may be admitted and sent to.
    fn sdp_usable(&self) -> bool {
        let ip = canonical(self.sdp.ip());
        is_unicast(ip)
            && match (self.rules.policy, self.rules.signalling) {
                (RemotePolicy::SignallingSource, Some(sig)) => ip == sig,
                _ => true,
            }
    }

    /// Whether a packet from `src` may be this leg's peer's.
    pub fn admits(&self, src: SocketAddr) -> bool {
        if let Some(l) = self.latched {
            return same(src, l);
        }
        let ip = canonical(src.ip());
        Some(ip) == self.rules.signalling || (self.sdp_usable() && ip == canonical(self.sdp.ip()))
    }

    /// `src` (admitted) sent a packet of a negotiated payload type. Returns
    /// true when that latched the leg just now.
    pub fn latch(&mut self, src: SocketAddr) -> bool {
        if self.latched.is_some() || !self.admits(src) {
            return false;
        }
        self.latched = Some(src);
        true
    }

    /// Where to send now, if anywhere.
    pub fn target(&self) -> Option<SocketAddr> {
        if canonical(self.sdp.ip()).is_unspecified() {
            return None; // c=0.0.0.0: send nothing (RFC 3264 §8.4)
        }
        if let Some(l) = self.latched {
            return Some(l);
        }
        (self.rules.confirmed && self.sdp_usable()).then_some(self.sdp)
    }

    /// A new offer/answer named `sdp`: expect the peer there and latch
    /// afresh (the same address keeps the latch).
    pub fn set_sdp(&mut self, sdp: SocketAddr) {
        if same(sdp, self.sdp) {
            return;
        }
        self.sdp = sdp;
        self.latched = None;
    }

    /// The dialog is confirmed: the SDP address may be sent to.
    pub fn confirm(&mut self) {
        self.rules.confirmed = true;
    }

    pub fn is_confirmed(&self) -> bool {
        self.rules.confirmed
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The SDP address (for logs).
    pub fn sdp(&self) -> SocketAddr {
        self.sdp
    }
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    fn caller(policy: RemotePolicy, confirmed: bool) -> PeerRules {
        PeerRules::new("203.0.113.7".parse().unwrap(), policy, confirmed)
    }

    #[test]
    fn only_the_sdp_ip_or_the_signalling_ip_may_latch() {
        let mut g = PeerGuard::new(at("192.168.1.20", 4000), caller(RemotePolicy::Any, true));
        assert!(!g.admits(at("198.51.100.66", 4000)), "a stranger");
        assert!(!g.latch(at("198.51.100.66", 4000)));
        assert_eq!(g.latched(), None);
        assert!(g.admits(at("192.168.1.20", 4002)), "the SDP's IP, any port");
        assert!(
            g.admits(at("203.0.113.7", 31337)),
            "the NAT: signalling IP, any port"
        );
        assert!(g.latch(at("203.0.113.7", 31337)));
        assert_eq!(g.target(), Some(at("203.0.113.7", 31337)));
        assert!(
            !g.admits(at("203.0.113.7", 31338)),
            "after the latch: that port only"
        );
        assert!(!g.admits(at("192.168.1.20", 4000)));
        assert!(!g.latch(at("192.168.1.20", 4000)), "no second latch");
    }

    #[test]
    fn nothing_goes_to_an_unproven_sdp_address_before_the_ack() {
        let mut g = PeerGuard::new(at("198.51.100.9", 4000), caller(RemotePolicy::Any, false));
        assert_eq!(g.target(), None, "forged INVITE naming a third party");
        g.confirm();
        assert_eq!(g.target(), Some(at("198.51.100.9", 4000)));

        // Early media to a latched peer is fine.
        let mut g = PeerGuard::new(at("198.51.100.9", 4000), caller(RemotePolicy::Any, false));
        assert!(g.latch(at("203.0.113.7", 5000)));
        assert_eq!(g.target(), Some(at("203.0.113.7", 5000)));
    }

    #[test]
    fn strict_policy_ignores_an_sdp_address_off_the_signalling_ip() {
        let mut g = PeerGuard::new(
            at("198.51.100.9", 4000),
            caller(RemotePolicy::SignallingSource, true),
        );
        assert_eq!(g.target(), None, "not even after the ACK");
        assert!(!g.admits(at("198.51.100.9", 4000)));
        assert!(g.latch(at("203.0.113.7", 6000)));
        assert_eq!(g.target(), Some(at("203.0.113.7", 6000)));

        let g = PeerGuard::new(
            at("203.0.113.7", 4000),
            caller(RemotePolicy::SignallingSource, true),
        );
        assert_eq!(g.target(), Some(at("203.0.113.7", 4000)), "same IP: fine");
    }

    #[test]
    fn a_new_sdp_address_moves_the_expectation_and_hold_sends_nothing() {
        let mut g = PeerGuard::new(at("192.0.2.10", 4000), caller(RemotePolicy::Any, true));
        assert!(g.latch(at("192.0.2.10", 4000)));
        g.set_sdp(at("192.0.2.10", 4000));
        assert_eq!(
            g.latched(),
            Some(at("192.0.2.10", 4000)),
            "same address: kept"
        );
        g.set_sdp(at("192.0.2.99", 7000));
        assert_eq!(g.latched(), None);
        assert!(
            !g.admits(at("192.0.2.10", 4000)),
            "the old address is no peer now"
        );
        assert!(!g.admits(at("198.51.100.66", 7000)));
        assert!(g.admits(at("192.0.2.99", 7000)));
        g.set_sdp(at("0.0.0.0", 7000));
        assert_eq!(g.target(), None, "c=0.0.0.0");
        assert!(
            g.admits(at("203.0.113.7", 7000)),
            "the signalling IP still may"
        );
    }

    #[test]
    fn without_a_signalling_address_only_the_sdp_ip_may_send() {
        let g = PeerGuard::new(at("127.0.0.1", 4000), PeerRules::sdp_only());
        assert!(g.admits(at("127.0.0.1", 9)));
        assert!(!g.admits(at("127.0.0.2", 4000)));
        assert_eq!(g.target(), Some(at("127.0.0.1", 4000)));
        let mapped = SocketAddr::new("::ffff:127.0.0.1".parse().unwrap(), 9);
        assert!(g.admits(mapped), "IPv4-mapped IPv6 is the same host");
    }

    #[test]
    fn multicast_broadcast_and_unspecified_are_never_unicast() {
        for ip in [
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
            "0.0.0.0",
            "::",
            "ff02::1",
        ] {
            assert!(!is_unicast(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["192.0.2.1", "127.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"] {
            assert!(is_unicast(ip.parse().unwrap()), "{ip}");
        }
        let g = PeerGuard::new(at("224.0.0.1", 4000), PeerRules::sdp_only());
        assert_eq!(g.target(), None);
        assert!(!g.admits(at("224.0.0.1", 4000)));
    }
}
