//! The response computation (RFC 7616 §3.4.1, RFC 2617 §3.2.2.1, RFC 2069)
//! and its constant-time check, plus the client side for tests and bench.

use super::credentials::{quote, DigestResponse, Qop};
use super::Algorithm;

/// The `qop=auth` inputs to the response: nonce count text and cnonce.
#[derive(Debug, Clone, Copy)]
pub struct QopAuth<'a> {
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// The expected response as lower-case hex. HA2 = H(method:uri); with
/// qop=auth, H(HA1:nonce:nc:cnonce:auth:HA2); without, the RFC 2069 form
/// H(HA1:nonce:HA2).
pub fn expected_response(
    alg: Algorithm,
    ha1_hex: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    let ha2 = alg.hash_hex(format!("{method}:{uri}").as_bytes());
    let input = match qop {
        Some(q) => format!("{ha1_hex}:{nonce}:{}:{}:auth:{ha2}", q.nc, q.cnonce),
        None => format!("{ha1_hex}:{nonce}:{ha2}"),
    };
    alg.hash_hex(input.as_bytes())
}

/// Does `resp` prove knowledge of the password behind `ha1_hex` (the HA1
/// of `resp.algorithm`) for a request with `method`? Only the digest is
/// checked here; nonce freshness, realm and replays are the caller's
/// ([`super::Authenticator`] does all of it).
pub fn verify(resp: &DigestResponse, method: &str, ha1_hex: &str) -> bool {
    let qop = match (resp.qop, &resp.nc, &resp.cnonce) {
        (Some(Qop::Auth), Some(nc), Some(cnonce)) => Some(QopAuth {
            nc: &nc.text,
            cnonce,
        }),
        (Some(Qop::Auth), _, _) => return false,
        (None, _, _) => None,
    };
    let want = expected_response(resp.algorithm, ha1_hex, method, &resp.uri, &resp.nonce, qop);
    ct_eq(want.as_bytes(), resp.response.as_bytes())
}

/// Equality whose time does not depend on where the inputs differ (the
/// lengths are public: they follow from the algorithm).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// What a client needs to answer a challenge with `qop=auth`.
#[derive(Debug, Clone)]
pub struct ClientAuth<'a> {
    pub username: &'a str,
    pub realm: &'a str,
    pub password: &'a str,
    pub algorithm: Algorithm,
    pub method: &'a str,
    pub uri: &'a str,
    pub nonce: &'a str,
    pub opaque: Option<&'a str>,
    pub nc: u32,
    pub cnonce: &'a str,
}

impl ClientAuth<'_> {
    /// The `Authorization` value a phone would send.
    pub fn header_value(&self) -> String {
        let ha1 = super::ha1(self.algorithm, self.username, self.realm, self.password);
        let nc = format!("{:08x}", self.nc);
        let response = expected_response(
            self.algorithm,
            &ha1,
            self.method,
            self.uri,
            self.nonce,
            Some(QopAuth {
                nc: &nc,
                cnonce: self.cnonce,
            }),
        );
        let mut v = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response=\"{response}\", \
             algorithm={}, cnonce={}, qop=auth, nc={nc}",
            quote(self.username),
            quote(self.realm),
            quote(self.nonce),
            quote(self.uri),
            self.algorithm.token(),
            quote(self.cnonce),
        );
        if let Some(o) = self.opaque {
            v.push_str(", opaque=");
            v.push_str(&quote(o));
        }
        v
    }
}
