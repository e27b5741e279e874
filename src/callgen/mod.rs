//! Built-in SIP phones for the demo, the tests and the load benchmarks.
//!
//! - [`Caller`]: one caller (UAC, one RTP leg): `hotline demo` walks a
//!   newcomer through the intake with it, tests and `benches/intake_load`
//!   drive the IVR exactly with it.
//! - [`agent`]: many auto-answering agents that register with digest,
//!   answer each INVITE after a ring, and talk back; `benches/bridge_load`
//!   bridges a thousand callers to a thousand of them. Lean by design: the
//!   load generator shares the daemon's two cores and must not be what
//!   gives out first.
//! - [`stamp`]: the send-time stamps both carry in their RTP, so that the
//!   delay a relay adds is measured on one process clock.

pub mod agent;
mod caller;
mod rtp;
pub mod stamp;

pub use caller::{Caller, CallerError, CallerId};

use std::net::{IpAddr, SocketAddr};

/// The audio address of an SDP body (`c=` and the first `m=audio` port).
pub(crate) fn sdp_address(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let ip: IpAddr = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("c=IN IP4 ")
                .or_else(|| l.strip_prefix("c=IN IP6 "))
        })?
        .trim()
        .parse()
        .ok()?;
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, port))
}
