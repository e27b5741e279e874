//! RTP port allocation over the configured range.
//!
//! RTP takes even ports and RTCP the odd port above (RFC 3550 section 11),
//! so only even ports are handed out and `port + 1` is never given to another
//! call. A port is bound when allocated (the socket is the proof that it is
//! free; a port some other program holds is skipped) and returned to the pool
//! when the [`RtpPort`] is dropped, so a call that ends in any way gives its
//! port back. When every port is taken the error maps to SIP 503.
//!
//! Ports are drawn at random from the free ones, not in order: a port that
//! can be guessed from the last call's invites a stranger to send RTP there
//! before the caller does (issue 14, item 6). The free ports are a vector
//! (pick an index at random, `swap_remove` it: O(1), and a port in use is
//! never in it); a released port first waits in a FIFO quarantine of up to
//! [`QUARANTINE`] ports (a quarter of the range at most) before it can be
//! drawn again, so late packets of an old call do not land in the next one.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use rand::Rng;

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

/// Released ports wait here before being drawn again, at most.
pub const QUARANTINE: usize = 64;

#[derive(Debug)]
struct Pool {
    first: u16,
    capacity: usize,
    /// Indices `i` (port `first + 2 i`) that may be drawn.
    free: Vec<u16>,
    /// Released indices, oldest first, not yet back in `free`.
    cooling: VecDeque<u16>,
    /// How many indices `cooling` keeps before it returns the oldest.
    quarantine: usize,
}

impl Pool {
    /// A released (or unbindable) index goes to the back of the quarantine;
    /// the oldest one beyond its length becomes drawable again.
    fn release(&mut self, i: u16) {
        self.cooling.push_back(i);
        while self.cooling.len() > self.quarantine {
            if let Some(old) = self.cooling.pop_front() {
                self.free.push(old);
            }
        }
    }

    /// A random drawable index; the oldest quarantined one when the free
    /// ports are all cooling (a full range reuses rather than refuses).
    fn draw(&mut self) -> Option<u16> {
        if self.free.is_empty() {
            return self.cooling.pop_front();
        }
        let k = rand::thread_rng().gen_range(0..self.free.len());
        Some(self.free.swap_remove(k))
    }
}

/// Hands out RTP ports; cheap to clone (all clones share one pool). The lock
/// is held only to draw an index and bind a socket, never across an `.await`.
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
        let count = (last - start).div_ceil(2);
        Ok(Self {
            ip,
            pool: Arc::new(Mutex::new(Pool {
                first: start,
                capacity: usize::from(count),
                free: (0..count).collect(),
                cooling: VecDeque::new(),
                quarantine: (usize::from(count) / 4).min(QUARANTINE),
            })),
        })
    }

    /// How many ports the range holds.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// How many are allocated now.
    pub fn in_use(&self) -> usize {
        let pool = self.lock();
        pool.capacity - pool.free.len() - pool.cooling.len()
    }

    /// Bind a random free even port. The socket is non-blocking: the media
    /// session reads it on its own 20 ms tick. A port some other program
    /// holds is put back (quarantined) and another drawn, a bounded number
    /// of times.
    pub fn allocate(&self) -> Result<RtpPort, PortError> {
        let mut pool = self.lock();
        let n = pool.capacity;
        let mut skipped = Vec::new();
        let got = loop {
            if skipped.len() >= n.min(MAX_TRIES) {
                break None;
            }
            let Some(i) = pool.draw() else { break None };
            let port = pool.first + 2 * i;
            match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(socket) => break Some((i, port, socket)),
                Err(_) => {
                    tracing::debug!(port, "RTP port held by another program; skipped");
                    skipped.push(i);
                }
            }
        };
        for i in skipped {
            pool.release(i);
        }
        let Some((i, port, socket)) = got else {
            return Err(PortError::Exhausted(n));
        };
        if let Err(source) = socket.set_nonblocking(true) {
            pool.release(i);
            return Err(PortError::Socket { port, source });
        }
        Ok(RtpPort {
            socket,
            port,
            index: i,
            pool: Arc::clone(&self.pool),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // A panic while holding the lock cannot leave the pool inconsistent
        // (each index is in exactly one place between statements that
        // cannot panic), so a poisoned lock is still usable.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Binds tried per allocation before giving up (ports held by others).
const MAX_TRIES: usize = 64;

/// A bound RTP socket on a port of the range; dropping it frees the port.
#[derive(Debug)]
pub struct RtpPort {
    socket: UdpSocket,
    port: u16,
    index: u16,
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
        pool.release(self.index);
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
    fn ports_are_drawn_at_random_not_in_order_and_never_twice() {
        let (first, last) = range(512);
        let alloc = PortAllocator::new(LO, first, last).unwrap();
        let held: Vec<RtpPort> = (0..24).map(|_| alloc.allocate().unwrap()).collect();
        let ports: Vec<u16> = held.iter().map(RtpPort::port).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ports.len(),
            "a port in use is never handed out"
        );
        // In order, 23 of the 23 steps would be +2; at random from 512
        // ports, a step of +2 or -2 has a chance of 1 in 256.
        let steps = ports
            .windows(2)
            .filter(|w| w[1].abs_diff(w[0]) == 2)
            .count();
        assert!(steps < 5, "consecutive ports: {ports:?}");
        assert_eq!(alloc.in_use(), 24);
    }

    #[test]
    fn a_full_range_reuses_quarantined_ports_rather_than_refusing() {
        let (first, last) = range(8);
        let alloc = PortAllocator::new(LO, first, last).unwrap();
        let mut held: Vec<RtpPort> = std::iter::from_fn(|| alloc.allocate().ok()).collect();
        let n = held.len();
        // Two released ports sit in the quarantine (8 / 4): still drawable
        // when nothing else is free.
        held.truncate(n - 2);
        assert_eq!(alloc.in_use(), n - 2);
        let a = alloc
            .allocate()
            .expect("a quarantined port when none is free");
        let b = alloc.allocate().expect("the second one");
        assert_ne!(a.port(), b.port());
        assert!(alloc.allocate().is_err());
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
