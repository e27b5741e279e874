//! The one-step check a registrar actor (or the feature-code INVITE
//! handler) calls: lock-out, parse, nonce, opaque, digest, replay, in the
//! order that leaks nothing.
//!
//! Why this order: a locked-out source is refused before any work; the
//! digest is checked before telling a phone its nonce is stale (a
//! `stale=true` on a wrong password would be an oracle); an unknown user
//! is checked against a dummy HA1 of the same algorithm, so the answer
//! (403) and the work (two hashes) are the same as for a wrong password.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::credentials::{challenge_value, DigestResponse};
use super::digest::verify;
use super::error::AuthError;
use super::lockout::{Lockout, LockoutPolicy, LockoutStarted};
use super::nonce::{NonceKey, NonceStatus};
use super::replay::{NcVerdict, ReplayGuard};
use super::Algorithm;
use crate::config::AgentsConfig;
use crate::sip::message::{Request, Response};

/// Default number of nonces whose counts are remembered.
pub const DEFAULT_REPLAY_CAPACITY: usize = 65_536;

/// What the roster stores for an agent: the two HA1 values, lower hex.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    pub ha1_md5: String,
    pub ha1_sha256: String,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredCredentials(..)")
    }
}

impl StoredCredentials {
    /// Both hashes of a password (for `agents add` / `agents passwd`).
    pub fn from_password(username: &str, realm: &str, password: &str) -> StoredCredentials {
        StoredCredentials {
            ha1_md5: super::ha1(Algorithm::Md5, username, realm, password),
            ha1_sha256: super::ha1(Algorithm::Sha256, username, realm, password),
        }
    }

    pub fn ha1(&self, alg: Algorithm) -> &str {
        match alg {
            Algorithm::Md5 => &self.ha1_md5,
            Algorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

/// 401 + `WWW-Authenticate` for REGISTER, 407 + `Proxy-Authenticate` for
/// the feature-code INVITE (as a PBX does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    Www,
    Proxy,
}

impl ChallengeKind {
    pub fn status(self) -> u16 {
        match self {
            ChallengeKind::Www => 401,
            ChallengeKind::Proxy => 407,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Unauthorized",
            ChallengeKind::Proxy => "Proxy Authentication Required",
        }
    }

    /// The header our challenge goes in.
    pub fn challenge_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "WWW-Authenticate",
            ChallengeKind::Proxy => "Proxy-Authenticate",
        }
    }

    /// The header the phone answers in.
    pub fn credentials_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }

    /// The request's credentials value, if any (the first one: a phone
    /// registering to one realm sends one).
    pub fn credentials(self, req: &Request) -> Option<&str> {
        req.headers().get(self.credentials_header())
    }
}

/// Why a 403 was sent. For the log only: on the wire every 403 is the
/// same `403 Forbidden`, so a user list cannot be read from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenReason {
    WrongPassword,
    UnknownUser,
    /// `userhash=true`, which we never offer.
    UserHash,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Go on; `user` is the authenticated agent.
    Authenticated { user: String },
    /// Send 401/407 with [`Authenticator::challenge_response`].
    Challenge { stale: bool },
    /// Send 403. When `lockout` is `Some`, log a WARN naming its user and
    /// source: this failure started a lock-out.
    Forbidden {
        user: String,
        reason: ForbiddenReason,
        lockout: Option<LockoutStarted>,
    },
    /// The source is locked out: send 403, nothing was checked.
    LockedOut,
    /// The credentials header is malformed: send 400.
    BadRequest(AuthError),
}

impl AuthOutcome {
    /// The status to answer with (`None`: authenticated, carry on).
    pub fn status(&self, kind: ChallengeKind) -> Option<u16> {
        match self {
            AuthOutcome::Authenticated { .. } => None,
            AuthOutcome::Challenge { .. } => Some(kind.status()),
            AuthOutcome::Forbidden { .. } | AuthOutcome::LockedOut => Some(403),
            AuthOutcome::BadRequest(_) => Some(400),
        }
    }
}

/// Settings of an [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub realm: String,
    pub nonce_lifetime: Duration,
    pub lockout: LockoutPolicy,
    pub replay_capacity: usize,
}

impl AuthConfig {
    pub fn from_config(c: &AgentsConfig) -> AuthConfig {
        AuthConfig {
            realm: c.realm.clone(),
            nonce_lifetime: c.nonce_lifetime.as_duration(),
            lockout: LockoutPolicy::from_config(c),
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
        }
    }
}

/// Challenges and checks for one realm; owned by one actor (`&mut self`).
#[derive(Debug)]
pub struct Authenticator {
    realm: String,
    lifetime: Duration,
    key: NonceKey,
    opaque: String,
    replay: ReplayGuard,
    lockout: Lockout,
    /// HA1s of nobody, checked against for unknown users.
    dummy: StoredCredentials,
}

impl Authenticator {
    pub fn new(config: AuthConfig, key: NonceKey) -> Authenticator {
        let dummy = StoredCredentials {
            ha1_md5: hex::encode(rand::random::<[u8; 16]>()),
            ha1_sha256: hex::encode(rand::random::<[u8; 32]>()),
        };
        Authenticator {
            opaque: key.opaque(),
            replay: ReplayGuard::new(config.replay_capacity, config.nonce_lifetime),
            lockout: Lockout::new(config.lockout),
            realm: config.realm,
            lifetime: config.nonce_lifetime,
            key,
            dummy,
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The two challenge values, SHA-256 first (RFC 8760 §2.4), sharing one
    /// fresh nonce.
    pub fn challenges(&self, now: DateTime<Utc>, stale: bool) -> [String; 2] {
        let nonce = self.key.issue(now);
        [Algorithm::Sha256, Algorithm::Md5]
            .map(|alg| challenge_value(alg, &self.realm, &nonce, &self.opaque, stale))
    }

    /// The 401 (or 407) answering `req`, with both challenges.
    pub fn challenge_response(
        &self,
        req: &Request,
        kind: ChallengeKind,
        now: DateTime<Utc>,
        stale: bool,
    ) -> Response {
        let mut resp = Response::for_request(req, kind.status(), kind.reason());
        for value in self.challenges(now, stale) {
            resp.headers.push(kind.challenge_header(), value);
        }
        resp
    }

    /// Decide on one request. `authorization` is the credentials header
    /// value ([`ChallengeKind::credentials`]); `lookup` gives an agent's
    /// stored hashes (from the in-memory roster: it must not block).
    pub fn check(
        &mut self,
        now: DateTime<Utc>,
        method: &str,
        authorization: Option<&str>,
        lookup: impl Fn(&str) -> Option<StoredCredentials>,
        source: IpAddr,
    ) -> AuthOutcome {
        if self.lockout.is_locked(now, source) {
            return AuthOutcome::LockedOut;
        }
        let Some(value) = authorization else {
            return AuthOutcome::Challenge { stale: false };
        };
        let resp = match DigestResponse::parse(value) {
            Ok(r) => r,
            Err(e) => return AuthOutcome::BadRequest(e),
        };
        // Not our realm, not our nonce or not our opaque: a challenge we
        // did not send, so send one (no failure counted: no password was
        // tried against anything of ours).
        let nonce = self.key.check(&resp.nonce, now, self.lifetime);
        let opaque_ok = resp
            .opaque
            .as_deref()
            .is_none_or(|o| self.key.check_opaque(o));
        if resp.realm != self.realm || nonce == NonceStatus::Forged || !opaque_ok {
            return AuthOutcome::Challenge { stale: false };
        }
        if let Some(f) = self.digest_failure(&resp, method, &lookup) {
            let lockout = self.lockout.record_failure(now, source, &resp.username);
            return AuthOutcome::Forbidden {
                user: resp.username,
                reason: f,
                lockout,
            };
        }
        if nonce == NonceStatus::Stale {
            return AuthOutcome::Challenge { stale: true };
        }
        // RFC 2069 form: no nc, so each nonce is good once.
        let nc = resp.nc.as_ref().map_or(1, |n| n.value);
        match self.replay.check(now, &resp.nonce, nc) {
            NcVerdict::Accepted => AuthOutcome::Authenticated {
                user: resp.username,
            },
            NcVerdict::Replay | NcVerdict::Forgotten => AuthOutcome::Challenge { stale: true },
        }
    }

    /// `None` when the digest is right. The same hashing is done for an
    /// unknown user (against the dummy HA1) as for a known one.
    fn digest_failure(
        &self,
        resp: &DigestResponse,
        method: &str,
        lookup: &impl Fn(&str) -> Option<StoredCredentials>,
    ) -> Option<ForbiddenReason> {
        let stored = if resp.userhash {
            None
        } else {
            lookup(&resp.username)
        };
        let ha1 = stored.as_ref().unwrap_or(&self.dummy).ha1(resp.algorithm);
        let ok = verify(resp, method, ha1);
        match (stored.is_some(), ok) {
            (true, true) => None,
            (true, false) => Some(ForbiddenReason::WrongPassword),
            (false, _) if resp.userhash => Some(ForbiddenReason::UserHash),
            (false, _) => Some(ForbiddenReason::UnknownUser),
        }
    }
}
