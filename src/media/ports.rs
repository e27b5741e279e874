//! RTP port allocation over the configured range.
//!
//! RTP takes even ports and RTCP the odd port above (RFC 3550 section 11),
//! so only even ports are handed out and `port + 1` is never given to another
//! call. A port is bound when allocated (the socket is the proof that it is
//! free; a port some other program holds is skipped) and returned to the pool
//! when the [`RtpPort`] is dropped, so a call that ends in any way gives its
//! port back. Allocation is next-fit from a cursor so a just-released port is
//! not reused at once (late packets of the old call would land in the new
//! one). When every port is taken the error maps to SIP 503.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

/// Why no port could be had.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("HL-RTP-503 all {0} RTP ports of the range are in use; answer new calls with 503 or widen the rtp port range")]
    Exhausted(usize),
    #[error("HL-RTP-010 RTP port range {first}-{last} holds no even port; set a range of at least two ports starting at an even one")]
    EmptyRange { first: u16, last: u16 },
    #[error("HL-RTP-011 cannot configure RTP socket on port {port}: {source}")]
    Socket { port: u16, source: std::io::Error },
}

impl PortError {
    /// The SIP status for the INVITE that could not get media.
    pub fn sip_status(&self) -> u16 {
        503
    }
}

#[derive(Debug)]
struct Pool {
    first: u16,
    /// `used[i]` is port `first + 2 i`.
    used: Vec<bool>,
    cursor: usize,
}

/// Hands out RTP ports; cheap to clone (all clones share one pool). The lock
/// is held only to flip a flag and bind a socket, never across an `.await`.
#[derive(Debug, Clone)]
pub struct PortAllocator {
    ip: IpAddr,
    pool: Arc<Mutex<Pool>>,
}

impl PortAllocator {
    /// Ports `first..=last` (the even ones) on local address `ip`.
    pub fn new(ip: IpAddr, first: u16, last: u16) -> Result<Self, PortError> {
        let start = match first.checked_add(first % 2) {
            Some(s) if s < last => s,
            _ => return Err(PortError::EmptyRange { first, last }),
        };
        // Even ports whose RTCP neighbour is inside the range too.
        let count = usize::from((last - start).div_ceil(2));
        Ok(Self {
            ip,
            pool: Arc::new(Mutex::new(Pool {
                first: start,
                used: vec![false; count],
                cursor: 0,
            })),
        })
    }

    /// How many ports the range holds.
    pub fn capacity(&self) -> usize {
        self.lock().used.len()
    }

    /// How many are allocated now.
    pub fn in_use(&self) -> usize {
        self.lock().used.iter().filter(|u| **u).count()
    }

    /// Bind the next free even port. The socket is non-blocking: the media
    /// session reads it on its own 20 ms tick.
    pub fn allocate(&self) -> Result<RtpPort, PortError> {
        let mut pool = self.lock();
        let n = pool.used.len();
        for _ in 0..n {
            let i = pool.cursor;
            pool.cursor = (i + 1) % n;
            if pool.used[i] {
                continue;
            }
            let port = pool.first + 2 * i as u16;
            let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.ip, port)) else {
                tracing::debug!(port, "RTP port held by another program; skipped");
                continue;
            };
            socket
                .set_nonblocking(true)
                .map_err(|source| PortError::Socket { port, source })?;
            pool.used[i] = true;
            return Ok(RtpPort {
                socket,
                port,
                index: i,
                pool: Arc::clone(&self.pool),
            });
        }
        Err(PortError::Exhausted(n))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // A panic while holding the lock cannot leave the flags inconsistent
        // (each change is a single store), so a poisoned lock is still usable.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A bound RTP socket on a port of the range; dropping it frees the port.
#[derive(Debug)]
pub struct RtpPort {
    socket: UdpSocket,
    port: u16,
    index: usize,
    pool: Arc<Mutex<Pool>>,
}

impl RtpPort {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the socket listens (for the SDP `c=`/`m=` lines).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }
}

impl Drop for RtpPort {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = pool.used.get_mut(self.index) {
            *u = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A range of `n` even ports starting at a port the OS just had free, so
    /// tests running in parallel do not fight over fixed numbers.
    fn range(n: u16) -> (u16, u16) {
        let probe = UdpSocket::bind((LO, 0)).unwrap();
        let p = probe.local_addr().unwrap().port().min(60000) & !1;
        (p, p + 2 * n - 1)
    }

    #[test]
    fn hands_out_even_ports_and_reports_exhaustion() {
        let (first, last) = range(3);
        let alloc = PortAllocator::new(LO, first, last).unwrap();
        assert_eq!(alloc.capacity(), 3);
        let mut held = Vec::new();
        while let Ok(p) = alloc.allocate() {
            assert_eq!(p.port() % 2, 0, "RTP port must be even");
            assert!((first..=last).contains(&p.port()));
            held.push(p);
        }
        assert!(!held.is_empty());
        let err = alloc.allocate().unwrap_err();
        assert!(err.to_string().starts_with("HL-RTP-503"));
        assert_eq!(err.sip_status(), 503);
    }

    #[test]
    fn dropping_a_port_returns_it_and_next_fit_avoids_instant_reuse() {
        let (first, last) = range(4);
        let alloc = PortAllocator::new(LO, first, last).unwrap();
        let a = alloc.allocate().unwrap();
        let b = alloc.allocate().unwrap();
        let a_port = a.port();
        let in_use = alloc.in_use();
        drop(a);
        assert_eq!(alloc.in_use(), in_use - 1);
        let c = alloc.allocate().unwrap();
        assert_ne!(c.port(), a_port, "the port just freed is not reused first");
        assert_ne!(c.port(), b.port());
    }

    #[test]
    fn a_port_taken_by_another_program_is_skipped() {
        let (first, last) = range(2);
        let squatter = UdpSocket::bind((LO, first)).ok();
        let alloc = PortAllocator::new(LO, first, last).unwrap();
        let p = alloc.allocate().unwrap();
        if squatter.is_some() {
            assert_ne!(p.port(), first);
        }
        assert!(p.local_addr().unwrap().port() == p.port());
    }

    #[test]
    fn a_range_without_an_even_port_pair_is_rejected() {
        assert!(matches!(
            PortAllocator::new(LO, 20001, 20002),
            Err(PortError::EmptyRange { .. })
        ));
        assert!(PortAllocator::new(LO, 20000, 20001).is_ok());
    }
}
