//! Stateless nonces: each carries its issue time and an HMAC-SHA256 over
//! it, so checking one needs the key and the clock, not a table that a
//! flood of unanswered challenges could fill. Daemons that share a key
//! ([`NonceKey::from_bytes`]) accept each other's nonces.
//!
//! Wire form: 64 lower-case hex digits =
//! `issue_secs (8 bytes BE) ‖ random (8 bytes) ‖ HMAC(key, "nonce" ‖ first 16)[..16]`.
//! The random part makes two nonces issued in the same second different, so
//! nonce-count tracking ([`super::ReplayGuard`]) never mixes two phones.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const NONCE_BYTES: usize = 32;
const BODY_BYTES: usize = 16;
/// A nonce dated this far in our future still counts (clock steps, or a
/// sibling daemon whose clock runs ahead); further is forged.
const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// What [`NonceKey::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours and within its lifetime.
    Fresh,
    /// Ours but too old: challenge again with `stale=true`.
    Stale,
    /// Not ours (bad MAC, bad shape, or dated in the future).
    Forged,
}

/// The 32-byte secret behind nonces and the opaque value.
#[derive(Clone)]
pub struct NonceKey {
    key: [u8; 32],
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A fresh key from the OS-seeded generator (nonces die with it).
    pub fn random() -> NonceKey {
        NonceKey {
            key: rand::random(),
        }
    }

    /// A key shared with other daemons (read from configuration or the
    /// database), so they accept each other's nonces.
    pub fn from_bytes(key: [u8; 32]) -> NonceKey {
        NonceKey { key }
    }

    fn mac(&self, label: &[u8], data: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes can never be refused.
        let mut m = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        m.update(label);
        m.update(data);
        m
    }

    /// A new nonce dated `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let mut body = [0u8; BODY_BYTES];
        body[..8].copy_from_slice(&unix_secs(now).to_be_bytes());
        body[8..].copy_from_slice(&rand::random::<[u8; 8]>());
        let tag = self.mac(b"nonce", &body).finalize().into_bytes();
        let mut out = hex::encode(body);
        out.push_str(&hex::encode(&tag[..NONCE_BYTES - BODY_BYTES]));
        out
    }

    /// Is `nonce` ours, and younger than `lifetime` at `now`? The MAC is
    /// compared in constant time.
    pub fn check(&self, nonce: &str, now: DateTime<Utc>, lifetime: Duration) -> NonceStatus {
        let Some(bytes) = decode(nonce) else {
            return NonceStatus::Forged;
        };
        let (body, tag) = bytes.split_at(BODY_BYTES);
        if self.mac(b"nonce", body).verify_truncated_left(tag).is_err() {
            return NonceStatus::Forged;
        }
        let issued = issue_secs(&bytes);
        let now = unix_secs(now);
        if issued > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return NonceStatus::Forged;
        }
        if now.saturating_sub(issued) > lifetime.as_secs() {
            NonceStatus::Stale
        } else {
            NonceStatus::Fresh
        }
    }

    /// The opaque value: fixed per key (RFC 7616 lets it be), so it needs
    /// no state either; a phone must echo it unchanged.
    pub fn opaque(&self) -> String {
        hex::encode(&self.mac(b"opaque", &[]).finalize().into_bytes()[..16])
    }

    /// Is `opaque` the one [`NonceKey::opaque`] gives?
    pub fn check_opaque(&self, opaque: &str) -> bool {
        match hex::decode(opaque) {
            Ok(tag) if tag.len() == 16 => {
                self.mac(b"opaque", &[]).verify_truncated_left(&tag).is_ok()
            }
            _ => false,
        }
    }
}

/// The issue time written in a nonce of our shape (unauthenticated: call
/// [`NonceKey::check`] first).
pub fn nonce_issued_secs(nonce: &str) -> Option<u64> {
    decode(nonce).map(|b| issue_secs(&b))
}

fn decode(nonce: &str) -> Option<Vec<u8>> {
    if nonce.len() != NONCE_BYTES * 2 {
        return None;
    }
    hex::decode(nonce).ok()
}

fn issue_secs(bytes: &[u8]) -> u64 {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(ts)
}

pub(super) fn unix_secs(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    const LIFE: Duration = Duration::from_secs(300);

    #[test]
    fn fresh_then_stale() {
        let k = NonceKey::random();
        let n = k.issue(t0());
        assert_eq!(n.len(), 64);
        assert_eq!(nonce_issued_secs(&n), Some(1_800_000_000));
        assert_eq!(k.check(&n, t0(), LIFE), NonceStatus::Fresh);
        let later = t0() + chrono::Duration::seconds(300);
        assert_eq!(k.check(&n, later, LIFE), NonceStatus::Fresh);
        let later = t0() + chrono::Duration::seconds(301);
        assert_eq!(k.check(&n, later, LIFE), NonceStatus::Stale);
    }

    #[test]
    fn two_nonces_in_one_second_differ() {
        let k = NonceKey::random();
        assert_ne!(k.issue(t0()), k.issue(t0()));
    }

    #[test]
    fn forged_tampered_foreign_and_future() {
        let k = NonceKey::from_bytes([7; 32]);
        let n = k.issue(t0());
        // Another key's nonce.
        assert_eq!(
            NonceKey::from_bytes([8; 32]).check(&n, t0(), LIFE),
            NonceStatus::Forged
        );
        // A shared key accepts it.
        assert_eq!(
            NonceKey::from_bytes([7; 32]).check(&n, t0(), LIFE),
            NonceStatus::Fresh
        );
        // Moving the issue time (to stretch the lifetime) breaks the MAC.
        let mut tampered = n.clone().into_bytes();
        tampered[15] = if tampered[15] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(k.check(&tampered, t0(), LIFE), NonceStatus::Forged);
        for junk in [
            "",
            "xyz",
            &"g".repeat(64),
            &n[..63],
            &format!("{n}0"),
            "é".repeat(32).as_str(),
        ] {
            assert_eq!(k.check(junk, t0(), LIFE), NonceStatus::Forged, "{junk:?}");
        }
        let future = k.issue(t0() + chrono::Duration::seconds(61));
        assert_eq!(k.check(&future, t0(), LIFE), NonceStatus::Forged);
        let near_future = k.issue(t0() + chrono::Duration::seconds(60));
        assert_eq!(k.check(&near_future, t0(), LIFE), NonceStatus::Fresh);
    }

    #[test]
    fn opaque_is_per_key() {
        let k = NonceKey::from_bytes([1; 32]);
        let o = k.opaque();
        assert_eq!(o, k.opaque());
        assert!(k.check_opaque(&o));
        assert!(!NonceKey::from_bytes([2; 32]).check_opaque(&o));
        assert!(!k.check_opaque("zz"));
        assert!(!k.check_opaque(""));
    }
}
