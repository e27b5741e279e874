//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760):
//! the hashes a roster stores (HA1), and, in the full module, challenges,
//! stateless nonces, the `Authorization` parser and response checks.
//!
//! Pure functions of their inputs: the registrar and the feature-code
//! check pass in the stored HA1 and the time; nothing here touches a
//! socket or a database.

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// Digest algorithms we offer and accept. SHA-256 is offered first (RFC
/// 8760 §2.4); MD5 stays because most desk phones still only do MD5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token in `algorithm=` (RFC 7616 §3.3).
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The lowercase hex digest of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }
}

/// HA1 = H(username ":" realm ":" password), what the roster stores in
/// place of the password (RFC 7616 §3.4.2), as lowercase hex.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    alg.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_matches_rfc_examples() {
        // RFC 2617 §3.5: Mufasa / testrealm@host.com / Circle Of Life.
        assert_eq!(
            ha1(
                Algorithm::Md5,
                "Mufasa",
                "testrealm@host.com",
                "Circle Of Life"
            ),
            "939e7578ed9e3c518a452acee763bce9"
        );
        // RFC 7616 §3.9.1: Mufasa / http-auth@example.org / Circle of Life.
        assert_eq!(
            ha1(
                Algorithm::Sha256,
                "Mufasa",
                "http-auth@example.org",
                "Circle of Life"
            ),
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
    }
}
