//! Fuzz the `Authorization` / `Proxy-Authorization` parser and everything
//! that reads its result: nothing may panic, whatever parses must verify
//! (true or false) without panicking, and the one-step check must give
//! an outcome for any header value.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hotline::sip::auth::{
    verify, AuthConfig, Authenticator, DigestChallenge, DigestResponse, LockoutPolicy, NonceKey,
    StoredCredentials,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let creds = StoredCredentials::from_password("agent1", "hotline", "pw");
    if let Ok(r) = DigestResponse::parse(value) {
        assert_eq!(r.response.len(), r.algorithm.hex_len());
        let _ = verify(&r, "REGISTER", creds.ha1(r.algorithm));
    }
    let _ = DigestChallenge::parse(value);
    let mut auth = Authenticator::new(
        AuthConfig {
            realm: "hotline".into(),
            nonce_lifetime: Duration::from_secs(300),
            lockout: LockoutPolicy {
                threshold: 5,
                window: Duration::from_secs(60),
                period: Duration::from_secs(300),
                max_tracked: 16,
            },
            replay_capacity: 16,
        },
        NonceKey::from_bytes([9; 32]),
    );
    // The epoch (`DateTime<Utc>::default()`): time does not matter here.
    let now = Default::default();
    let src = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let _ = auth.check(now, "REGISTER", Some(value), |_| Some(creds.clone()), src);
});
