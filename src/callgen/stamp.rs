//! Send-time stamps in RTP payloads, so that the delay a relay adds can be
//! measured on one clock: the built-in caller and the built-in agent run
//! in one process, each stamps the moment a packet leaves into its G.711
//! payload, and the other end reads it on arrival.
//!
//! A relay that copies the payload as it is (hotline's bridge does when
//! both legs use one codec) keeps the stamp intact; a transcoding relay
//! destroys it and the packet counts as unstamped.
//!
//! Layout (the first 16 of the 160 payload bytes; the rest is silence):
//! magic `HLst`, the send time in nanoseconds of [`clock_ns`] (u64,
//! big-endian), and the stream's own counter (u32, big-endian), from which
//! the receiver counts what was lost.
//!
//! Two arrival times per packet: when the kernel queued it on the
//! receiving socket (`SO_TIMESTAMPNS`: what the relay and the loopback
//! cost, whatever the receiving program was doing) and when the program
//! read it (phone to phone, the receiver's own scheduling included). On a
//! machine where the load generator competes for the cores, the first is
//! the relay's figure.

use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

const MAGIC: &[u8; 4] = b"HLst";
/// Bytes of a stamp at the start of a payload.
pub const STAMP_LEN: usize = 16;

/// Nanoseconds of the realtime clock: the clock the kernel stamps
/// arrivals with, read by both ends of a measured stream.
pub fn clock_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Ask the kernel to stamp every datagram's arrival on `sock`.
pub fn enable_arrival_times(sock: &UdpSocket) -> std::io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int through a valid pointer.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Receive one datagram with the kernel's arrival time ([`clock_ns`]'s
/// clock; `None` unless [`enable_arrival_times`] was called).
pub async fn recv_timed(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    sock.async_io(Interest::READABLE, || recvmsg_timed(sock.as_raw_fd(), buf))
        .await
}

fn recvmsg_timed(fd: std::os::fd::RawFd, buf: &mut [u8]) -> std::io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 16];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: the iovec and control buffer outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut at = None;
    // SAFETY: the CMSG_* walk stays within msg_controllen, as the kernel
    // filled it; the timespec is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                at = Some(t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, at))
}

/// Write a stamp for packet `counter` sent now into `payload` (at least
/// [`STAMP_LEN`] bytes; the rest is left as it is).
pub fn write(payload: &mut [u8], counter: u32) {
    payload[..4].copy_from_slice(MAGIC);
    payload[4..12].copy_from_slice(&clock_ns().to_be_bytes());
    payload[12..16].copy_from_slice(&counter.to_be_bytes());
}

/// The (send time, counter) of a stamped payload.
pub fn read(payload: &[u8]) -> Option<(u64, u32)> {
    if payload.len() < STAMP_LEN || &payload[..4] != MAGIC {
        return None;
    }
    let sent = u64::from_be_bytes(payload[4..12].try_into().ok()?);
    let counter = u32::from_be_bytes(payload[12..16].try_into().ok()?);
    Some((sent, counter))
}

/// What one receiving end saw of one stamped stream.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    /// Send to read by the receiving program, of every stamped packet, in
    /// microseconds (phone to phone).
    pub latencies_us: Vec<u32>,
    /// Send to the kernel's arrival stamp on the receiving socket, in
    /// microseconds (without the receiver's scheduling), when known.
    pub wire_us: Vec<u32>,
    /// Stamped packets received.
    pub received: u64,
    first: Option<u32>,
    last: u32,
}

impl StreamStats {
    /// Note the stamp of a packet read at `now_ns` ([`clock_ns`]) that
    /// the kernel queued at `arrived_ns`.
    pub fn record(&mut self, now_ns: u64, arrived_ns: Option<u64>, sent_ns: u64, counter: u32) {
        let us = |t: u64| (t.saturating_sub(sent_ns) / 1000).min(u32::MAX as u64) as u32;
        self.latencies_us.push(us(now_ns));
        if let Some(a) = arrived_ns {
            self.wire_us.push(us(a));
        }
        self.received += 1;
        match self.first {
            None => {
                self.first = Some(counter);
                self.last = counter;
            }
            Some(_) if counter > self.last => self.last = counter,
            Some(_) => {}
        }
    }

    /// Packets the sender numbered between the first and the last one
    /// received (what was sent while the stream was being relayed).
    pub fn expected(&self) -> u64 {
        self.first
            .map_or(0, |f| u64::from(self.last.saturating_sub(f)) + 1)
    }

    /// Packets of that window that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Add another stream's figures (for totals over many calls).
    pub fn merge(&mut self, other: &StreamStats) {
        // Keep `expected - received` additive: shift the window.
        let lost = self.lost() + other.lost();
        self.latencies_us.extend_from_slice(&other.latencies_us);
        self.wire_us.extend_from_slice(&other.wire_us);
        self.received += other.received;
        self.first = Some(0);
        self.last = (self.received + lost).saturating_sub(1) as u32;
        if self.received + lost == 0 {
            self.first = None;
            self.last = 0;
        }
    }
}

/// Receive-side check of an RTP datagram that the kernel queued at
/// `arrived`: recorded if its payload is stamped.
pub fn observe(stats: &std::sync::Mutex<StreamStats>, datagram: &[u8], arrived: Option<u64>) {
    let Ok(p) = crate::media::rtp::parse(datagram) else {
        return;
    };
    if let Some((sent, counter)) = read(p.payload) {
        let now = clock_ns();
        if let Ok(mut s) = stats.lock() {
            s.record(now, arrived, sent, counter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_and_loss_counts_the_gaps() {
        let mut p = [0xFFu8; 160];
        write(&mut p, 7);
        let (sent, counter) = read(&p).unwrap();
        assert_eq!(counter, 7);
        assert!(sent <= clock_ns());
        assert!(read(&[0xFF; 160]).is_none());

        let mut s = StreamStats::default();
        for c in [10, 11, 13, 14] {
            s.record(sent + 2_000_000, Some(sent + 1_000_000), sent, c);
        }
        assert_eq!((s.expected(), s.received, s.lost()), (5, 4, 1));
        assert_eq!((s.latencies_us[0], s.wire_us[0]), (2000, 1000));
        let mut total = StreamStats::default();
        total.merge(&s);
        total.merge(&s);
        assert_eq!((total.received, total.lost()), (8, 2));
    }

    #[tokio::test]
    async fn the_kernel_stamps_the_arrival_between_send_and_read() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        enable_arrival_times(&b).unwrap();
        let before = clock_ns();
        a.send_to(b"x", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, at) = recv_timed(&b, &mut buf).await.unwrap();
        let after = clock_ns();
        let at = at.expect("SO_TIMESTAMPNS gave a time");
        assert_eq!(n, 1);
        assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
    }
}
