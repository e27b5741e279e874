//! One answered call's RTP at the agent's end: its own socket, a task
//! that records the caller's stamps as they arrive (readiness-driven, so
//! the arrival time is the packet's, not a tick's), and the outgoing
//! stream the phone's shared tick sends from.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::callgen::rtp::RtpOut;
use crate::callgen::stamp::{self, StreamStats};

pub(super) struct CallMedia {
    out: RtpOut,
    heard: Arc<Mutex<StreamStats>>,
    reader: JoinHandle<()>,
    pub(super) port: u16,
}

impl CallMedia {
    /// A fresh socket on `ip` sending to `remote` (the hotline's port for
    /// this leg, from its offer).
    pub(super) fn bind(ip: IpAddr, remote: SocketAddr) -> std::io::Result<CallMedia> {
        let std_sock = std::net::UdpSocket::bind((ip, 0))?;
        std_sock.set_nonblocking(true)?;
        let sock = Arc::new(UdpSocket::from_std(std_sock)?);
        let port = sock.local_addr()?.port();
        let heard = Arc::new(Mutex::new(StreamStats::default()));
        let reader = tokio::spawn(listen(sock.clone(), heard.clone()));
        Ok(CallMedia {
            out: RtpOut::new(sock, remote),
            heard,
            reader,
            port,
        })
    }

    /// This call's 20 ms: one stamped packet to the hotline. False when
    /// the socket refused it (buffer full).
    pub(super) fn tick(&mut self) -> bool {
        self.out.try_stamped()
    }

    /// Stop listening; what arrived of the caller's stream.
    pub(super) fn finish(self) -> StreamStats {
        self.reader.abort();
        let heard = self.heard.lock().map(|h| h.clone()).unwrap_or_default();
        heard
    }
}

impl Drop for CallMedia {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

async fn listen(sock: Arc<UdpSocket>, heard: Arc<Mutex<StreamStats>>) {
    let _ = stamp::enable_arrival_times(&sock);
    let mut buf = [0u8; 2048];
    while let Ok((n, arrived)) = stamp::recv_timed(&sock, &mut buf).await {
        stamp::observe(&heard, &buf[..n], arrived);
    }
}
