//! Why an `Authorization` value was refused, with stable codes.
//!
//! These reach a log line (never the wire: a refused header gets a plain
//! 400), so each carries an `HL-AUTH-…` code an operator can search for.
//! Names and values from the peer are never echoed unbounded.

use thiserror::Error;

/// A digest credentials (or challenge) value we cannot use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("HL-AUTH-TOO-LONG header value longer than {limit} bytes")]
    TooLong { limit: usize },
    #[error("HL-AUTH-PARAM-TOO-LONG parameter {name:?} longer than {limit} bytes")]
    ParamTooLong { name: String, limit: usize },
    #[error("HL-AUTH-TOO-MANY-PARAMS more than {limit} parameters")]
    TooManyParams { limit: usize },
    #[error("HL-AUTH-SCHEME not the Digest scheme")]
    NotDigest,
    #[error("HL-AUTH-SYNTAX {detail} at byte {at}")]
    Syntax { detail: &'static str, at: usize },
    #[error("HL-AUTH-DUPLICATE parameter {name:?} given twice")]
    Duplicate { name: String },
    #[error("HL-AUTH-MISSING parameter {name} missing")]
    Missing { name: &'static str },
    #[error("HL-AUTH-NC nc is not 8 hex digits")]
    BadNonceCount,
    #[error("HL-AUTH-RESPONSE response is not a hex digest of the algorithm's length")]
    BadResponse,
    #[error("HL-AUTH-ALGORITHM unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("HL-AUTH-QOP unsupported qop {0:?}")]
    UnsupportedQop(String),
}

impl AuthError {
    /// The stable searchable code, e.g. `HL-AUTH-SYNTAX`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::TooLong { .. } => "HL-AUTH-TOO-LONG",
            AuthError::ParamTooLong { .. } => "HL-AUTH-PARAM-TOO-LONG",
            AuthError::TooManyParams { .. } => "HL-AUTH-TOO-MANY-PARAMS",
            AuthError::NotDigest => "HL-AUTH-SCHEME",
            AuthError::Syntax { .. } => "HL-AUTH-SYNTAX",
            AuthError::Duplicate { .. } => "HL-AUTH-DUPLICATE",
            AuthError::Missing { .. } => "HL-AUTH-MISSING",
            AuthError::BadNonceCount => "HL-AUTH-NC",
            AuthError::BadResponse => "HL-AUTH-RESPONSE",
            AuthError::UnsupportedAlgorithm(_) => "HL-AUTH-ALGORITHM",
            AuthError::UnsupportedQop(_) => "HL-AUTH-QOP",
        }
    }
}

/// A peer-supplied name or value cut short enough for a log line.
pub(super) fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}
