//! The call's RTP port: bound from the configured range before the call
//! rings, so a call we cannot give media to is refused with 503 at once.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;

/// Attempts at random even ports before giving up on a busy range.
const TRIES: usize = 64;

/// A bound RTP socket and the SDP session id that goes with it.
pub struct MediaLeg {
    /// Held so the port stays ours; the media session drives it.
    #[allow(dead_code)]
    pub socket: UdpSocket,
    pub local: SocketAddr,
    pub session_id: u64,
}

impl MediaLeg {
    pub async fn bind(ip: IpAddr, (first, last): (u16, u16)) -> io::Result<Self> {
        let evens = (last - first) / 2 + 1;
        for _ in 0..TRIES {
            let port = first + 2 * (rand::random::<u16>() % evens);
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(ip, port)).await {
                let local = socket.local_addr()?;
                return Ok(Self {
                    socket,
                    local,
                    session_id: rand::random::<u32>() as u64,
                });
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "HL-RTP-PORTS: no free RTP port in {first}-{last} on {ip}; widen media.rtp_ports"
            ),
        ))
    }
}
