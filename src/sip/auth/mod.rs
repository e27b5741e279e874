//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760):
//! what agents' softphones must prove before they register (401) or dial
//! a feature code (407).
//!
//! Pure functions of their inputs and the time passed in: the registrar
//! and the feature-code check pass in a lookup of the stored HA1 and
//! `now`; nothing here touches a socket, a clock or a database, so tests
//! drive time and the fuzzer drives the parser.
//!
//! - [`ha1`], [`Algorithm`]: the hashes the roster stores instead of passwords.
//! - [`params`]: the `Digest` parameter lexer (quoted strings, limits).
//! - [`credentials`]: [`DigestResponse`] (the phone's answer), the
//!   challenge values we send, [`DigestChallenge`] for our own clients.
//! - [`digest`]: the response computation, [`verify`] in constant time.
//! - [`nonce`]: stateless nonces ([`NonceKey`]): issue time + HMAC.
//! - [`replay`]: nonce-count replay checks ([`ReplayGuard`]), bounded.
//! - [`lockout`]: brute-force lock-out per source and user ([`Lockout`]).
//! - [`authenticator`]: [`Authenticator::check`], all of it in one step.

pub mod authenticator;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod lockout;
pub mod nonce;
pub mod params;
pub mod replay;

pub use authenticator::{
    AuthConfig, AuthOutcome, Authenticator, ChallengeKind, ForbiddenReason, StoredCredentials,
};
pub use credentials::{challenge_value, DigestChallenge, DigestResponse, NonceCount, Qop};
pub use digest::{ct_eq, expected_response, verify, ClientAuth, QopAuth};
pub use error::AuthError;
pub use lockout::{Lockout, LockoutPolicy, LockoutStarted};
pub use nonce::{NonceKey, NonceStatus};
pub use params::parse_digest_params;
pub use replay::{NcVerdict, ReplayGuard};

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

    /// Length of a response in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
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
mod authenticator_tests;
#[cfg(test)]
mod robustness_tests;

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

    const RFC7616_SHA256: &str = r#"Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=SHA-256,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;

    #[test]
    fn rfc7616_sha256_example_verifies() {
        let r = DigestResponse::parse(RFC7616_SHA256).unwrap();
        assert_eq!(r.algorithm, Algorithm::Sha256);
        assert_eq!(r.nc.as_ref().map(|n| n.value), Some(1));
        assert_eq!(r.qop, Some(Qop::Auth));
        assert_eq!(
            r.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert!(verify(&r, "GET", &ha1));
        assert!(!verify(&r, "POST", &ha1));
        let wrong = super::ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "circle of life",
        );
        assert!(!verify(&r, "GET", &wrong));
    }

    #[test]
    fn rfc7616_md5_example_verifies() {
        let v = RFC7616_SHA256
            .replace("algorithm=SHA-256", "algorithm=MD5")
            .replace(
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
                "8ca523f5e9506fed4657c9700eebdbec",
            );
        let r = DigestResponse::parse(&v).unwrap();
        assert_eq!(r.algorithm, Algorithm::Md5);
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert!(verify(&r, "GET", &ha1));
    }

    const RFC2617: &str = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn rfc2617_example_verifies_without_an_algorithm_parameter() {
        let r = DigestResponse::parse(RFC2617).unwrap();
        assert_eq!(r.algorithm, Algorithm::Md5, "MD5 when absent");
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(verify(&r, "GET", &ha1));
        // The nonce count is hashed as text: another count fails.
        let r2 = DigestResponse::parse(&RFC2617.replace("nc=00000001", "nc=00000002")).unwrap();
        assert!(!verify(&r2, "GET", &ha1));
    }

    #[test]
    fn rfc2069_form_without_qop() {
        // RFC 2617's inputs without qop/nc/cnonce; the value was computed
        // independently (Python hashlib). RFC 2069's own example value is
        // known to be wrong, so it is not used.
        let v = r#"Digest username="Mufasa", realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",
            response="670fd8c2df070c60b045671b8b24ff02""#;
        let r = DigestResponse::parse(v).unwrap();
        assert_eq!((r.qop, r.nc.clone(), r.cnonce.clone()), (None, None, None));
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(verify(&r, "GET", &ha1));
    }

    #[test]
    fn typed_refusals_with_stable_codes() {
        let cases: Vec<(String, &str)> = vec![
            (
                RFC2617.replace("username=\"Mufasa\",", ""),
                "HL-AUTH-MISSING",
            ),
            (
                RFC2617.replace("cnonce=\"0a4f113b\",", ""),
                "HL-AUTH-MISSING",
            ),
            (RFC2617.replace("nc=00000001", "nc=1"), "HL-AUTH-NC"),
            (RFC2617.replace("nc=00000001", "nc=0000000g"), "HL-AUTH-NC"),
            (RFC2617.replace("qop=auth", "qop=auth-int"), "HL-AUTH-QOP"),
            (
                RFC2617.replace("realm=", "algorithm=MD5-sess, realm="),
                "HL-AUTH-ALGORITHM",
            ),
            (RFC2617.replace("6629fae4", "6629fae"), "HL-AUTH-RESPONSE"),
            (RFC2617.replace("6629fae4", "zz29fae4"), "HL-AUTH-RESPONSE"),
            (
                RFC2617.replace("realm=", "realm=\"x\", realm="),
                "HL-AUTH-DUPLICATE",
            ),
            (RFC2617.replace("Digest", "Basic"), "HL-AUTH-SCHEME"),
        ];
        for (v, code) in cases {
            let e = DigestResponse::parse(&v).expect_err(&v);
            assert_eq!(e.code(), code, "{v}: {e}");
            assert!(e.to_string().starts_with(code));
        }
    }

    #[test]
    fn unknown_params_ignored_and_case_folded() {
        let v = RFC2617
            .replace("Digest", "DIGEST")
            .replace("qop=auth", "QOP=\"auth\", x-vendor=\"a, b\", ALGORITHM=md5")
            .replace(
                "6629fae49393a05397450978507c4ef1",
                "6629FAE49393A05397450978507C4EF1",
            );
        let r = DigestResponse::parse(&v).unwrap();
        assert_eq!(r.response, "6629fae49393a05397450978507c4ef1");
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(verify(&r, "GET", &ha1));
    }

    #[test]
    fn challenge_values_round_trip_through_a_client() {
        let v = challenge_value(Algorithm::Sha256, "desk \"one\"", "n1", "o1", true);
        assert_eq!(
            v,
            r#"Digest realm="desk \"one\"", qop="auth", algorithm=SHA-256, nonce="n1", opaque="o1", stale=true"#
        );
        let c = DigestChallenge::parse(&v).unwrap();
        assert_eq!(c.realm, "desk \"one\"");
        assert!(c.qop_auth && c.stale);
        assert_eq!(c.algorithm, Algorithm::Sha256);
        let client = ClientAuth {
            username: "agent1",
            realm: &c.realm,
            password: "pw",
            algorithm: c.algorithm,
            method: "REGISTER",
            uri: "sip:127.0.0.1",
            nonce: &c.nonce,
            opaque: c.opaque.as_deref(),
            nc: 1,
            cnonce: "abc",
        };
        let r = DigestResponse::parse(&client.header_value()).unwrap();
        assert!(verify(
            &r,
            "REGISTER",
            &ha1(Algorithm::Sha256, "agent1", &c.realm, "pw")
        ));
        let plain = challenge_value(Algorithm::Md5, "r", "n", "o", false);
        assert!(!plain.contains("stale"));
        assert!(!DigestChallenge::parse(&plain).unwrap().stale);
    }

    #[test]
    fn ct_eq_basics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
