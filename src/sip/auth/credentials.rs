//! Typed views of the two digest headers: the credentials a phone sends
//! (`Authorization` / `Proxy-Authorization`, RFC 7616 §3.4) and the
//! challenge we send (`WWW-Authenticate` / `Proxy-Authenticate`, §3.3).
//!
//! Parsing the challenge too is for our own test clients and the bench (a
//! raw SHA-256 client, since not every softphone offers SHA-256).

use super::error::{clip, AuthError};
use super::params::parse_digest_params;
use super::Algorithm;

/// The only quality of protection we offer. `auth-int` (a hash of the
/// body) buys nothing for REGISTER and INVITE-with-SDP over plain UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    Auth,
}

/// `nc`: the value, and the exact text, because the response is computed
/// over the text (a phone that sends `0000000A` hashed `0000000A`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceCount {
    pub value: u32,
    pub text: String,
}

impl NonceCount {
    fn parse(s: &str) -> Result<NonceCount, AuthError> {
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AuthError::BadNonceCount);
        }
        let value = u32::from_str_radix(s, 16).map_err(|_| AuthError::BadNonceCount)?;
        Ok(NonceCount {
            value,
            text: s.to_string(),
        })
    }
}

/// Parsed `Authorization` / `Proxy-Authorization` digest credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    /// `digest-uri`, as sent; hashed as sent.
    pub uri: String,
    /// Lower-case hex, length checked against `algorithm`.
    pub response: String,
    /// MD5 when absent (RFC 2617 §3.2.2).
    pub algorithm: Algorithm,
    pub cnonce: Option<String>,
    pub nc: Option<NonceCount>,
    /// `None`: the RFC 2069 form (no cnonce, no nc).
    pub qop: Option<Qop>,
    pub opaque: Option<String>,
    /// RFC 7616 §3.4.4: `username` is H(user:realm). We never offer it.
    pub userhash: bool,
}

impl DigestResponse {
    /// Parse a header value. Unknown parameters are ignored; every error
    /// is an [`AuthError`], never a panic.
    pub fn parse(value: &str) -> Result<DigestResponse, AuthError> {
        let mut params = parse_digest_params(value)?;
        let mut take = |name: &'static str| {
            let i = params.iter().position(|(n, _)| n == name)?;
            Some(params.swap_remove(i).1)
        };
        let need = |v: Option<String>, name: &'static str| v.ok_or(AuthError::Missing { name });
        let username = need(take("username"), "username")?;
        let realm = need(take("realm"), "realm")?;
        let nonce = need(take("nonce"), "nonce")?;
        let uri = need(take("uri"), "uri")?;
        let response = need(take("response"), "response")?;
        let algorithm = match take("algorithm") {
            Some(a) => parse_algorithm(&a)?,
            None => Algorithm::Md5,
        };
        let qop = match take("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
            Some(q) => return Err(AuthError::UnsupportedQop(clip(&q))),
            None => None,
        };
        let (cnonce, nc) = (take("cnonce"), take("nc"));
        let (cnonce, nc) = match qop {
            Some(_) => (
                Some(need(cnonce, "cnonce")?),
                Some(NonceCount::parse(&need(nc, "nc")?)?),
            ),
            // RFC 2069 form: nothing to hash them into, ignore them.
            None => (None, None),
        };
        let response = response.to_ascii_lowercase();
        if response.len() != algorithm.hex_len() || !response.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(AuthError::BadResponse);
        }
        let userhash = take("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        Ok(DigestResponse {
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            cnonce,
            nc,
            qop,
            opaque: take("opaque"),
            userhash,
        })
    }
}

fn parse_algorithm(s: &str) -> Result<Algorithm, AuthError> {
    if s.eq_ignore_ascii_case("MD5") {
        Ok(Algorithm::Md5)
    } else if s.eq_ignore_ascii_case("SHA-256") {
        Ok(Algorithm::Sha256)
    } else {
        Err(AuthError::UnsupportedAlgorithm(clip(s)))
    }
}

/// One challenge value, in the parameter order of RFC 7616 §3.9.1.
/// `realm`, `nonce` and `opaque` are quoted and escaped here.
pub fn challenge_value(
    algorithm: Algorithm,
    realm: &str,
    nonce: &str,
    opaque: &str,
    stale: bool,
) -> String {
    let mut v = format!(
        "Digest realm={}, qop=\"auth\", algorithm={}, nonce={}, opaque={}",
        quote(realm),
        algorithm.token(),
        quote(nonce),
        quote(opaque)
    );
    if stale {
        v.push_str(", stale=true");
    }
    v
}

/// A quoted-string with `"` and `\` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A parsed challenge, for clients (tests, bench).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The `qop` options offered include `auth`.
    pub qop_auth: bool,
    pub stale: bool,
}

impl DigestChallenge {
    pub fn parse(value: &str) -> Result<DigestChallenge, AuthError> {
        let params = parse_digest_params(value)?;
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let algorithm = get("algorithm").map_or(Ok(Algorithm::Md5), parse_algorithm)?;
        Ok(DigestChallenge {
            realm: get("realm")
                .ok_or(AuthError::Missing { name: "realm" })?
                .to_string(),
            nonce: get("nonce")
                .ok_or(AuthError::Missing { name: "nonce" })?
                .to_string(),
            opaque: get("opaque").map(str::to_string),
            algorithm,
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth"))),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}
