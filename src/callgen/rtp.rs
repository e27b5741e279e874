//! The built-in caller's RTP: a receiver that notes what the hotline
//! plays (and the stamps of a measured stream), and a sender on a steady
//! 20 ms clock that sends silence, key presses (RFC 4733) or a tone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::stamp::{self, StreamStats};
use crate::media::codec::Codec;
use crate::media::rtp::{self as wire, RtpHeader, HEADER_LEN};

/// Payload type we offer for telephone-event.
pub(super) const EVENT_PT: u8 = 101;
/// One G.711 packet: 20 ms at 8 kHz.
pub(super) const FRAME: usize = 160;

/// What the RTP receiver has seen, shared with its task.
#[derive(Default)]
pub(super) struct Heard {
    pub(super) packets: AtomicU64,
    /// Milliseconds since `epoch` of the last packet.
    pub(super) last_ms: AtomicU64,
    /// Stamped packets (a measured stream: see [`super::stamp`]).
    pub(super) stamps: Mutex<StreamStats>,
}

pub(super) async fn rtp_reader(sock: Arc<UdpSocket>, heard: Arc<Heard>, epoch: Instant) {
    let _ = stamp::enable_arrival_times(&sock);
    let mut buf = [0u8; 2048];
    while let Ok((n, arrived)) = stamp::recv_timed(&sock, &mut buf).await {
        heard.packets.fetch_add(1, Ordering::Relaxed);
        heard
            .last_ms
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        stamp::observe(&heard.stamps, &buf[..n], arrived);
    }
}

/// What the caller's microphone sends next.
pub(super) enum Audio {
    Keys(String),
    Talk(Duration),
}

pub(super) type AudioJob = (Audio, oneshot::Sender<()>);

/// The caller's RTP: 20 ms packets on a steady clock, silence unless told
/// to press keys or talk (stamped silence while `stamping` is set); ends
/// when the `Caller` is dropped.
pub(super) async fn rtp_sender(
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    mut audio: mpsc::UnboundedReceiver<AudioJob>,
    stamping: Arc<AtomicBool>,
) {
    let mut rtp = RtpOut::new(sock, to);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pcm = [0i16; FRAME];
    let mut payload = [0u8; FRAME];
    loop {
        let job = tokio::select! {
            job = audio.recv() => match job { Some(j) => Some(j), None => return },
            _ = tick.tick() => None,
        };
        let Some((job, done)) = job else {
            // Silence between jobs, as a phone's microphone sends.
            if stamping.load(Ordering::Relaxed) {
                rtp.stamped().await;
            } else {
                rtp.silence().await;
            }
            continue;
        };
        match job {
            Audio::Keys(keys) => {
                for key in keys.chars() {
                    let Some(event) = crate::media::dtmf::digit_to_event(key) else {
                        continue;
                    };
                    // Every packet of one event carries its start timestamp.
                    for i in 0..8u16 {
                        tick.tick().await;
                        let end = if i >= 5 { 0x80 } else { 0 };
                        let duration = (160 * (i.min(5) + 1)).to_be_bytes();
                        rtp.send(
                            EVENT_PT,
                            i == 0,
                            &[event, end | 10, duration[0], duration[1]],
                            0,
                        )
                        .await;
                    }
                    rtp.ts = rtp.ts.wrapping_add(160 * 8);
                    for _ in 0..5 {
                        tick.tick().await;
                        rtp.silence().await;
                    }
                }
            }
            Audio::Talk(length) => {
                let frames = (length.as_millis() / 20) as u32;
                for f in 0..frames {
                    tick.tick().await;
                    tone(f, &mut pcm);
                    Codec::Pcmu.encode(&pcm, &mut payload);
                    rtp.send(0, f == 0, &payload, 160).await;
                }
            }
        }
        let _ = done.send(());
    }
}

/// Frame `f` of a steady vowel-like tone (220 Hz and 440 Hz).
fn tone(f: u32, pcm: &mut [i16; FRAME]) {
    for (i, s) in pcm.iter_mut().enumerate() {
        let t = (f as usize * FRAME + i) as f64 / 8000.0;
        *s = (3000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
            + 1500.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16;
    }
}

/// One outgoing RTP stream: its counters and a reused packet buffer.
pub(super) struct RtpOut {
    sock: Arc<UdpSocket>,
    to: SocketAddr,
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// Stamped packets sent so far (the stamp's counter).
    pub(super) stamped: u32,
    buf: [u8; HEADER_LEN + FRAME],
}

impl RtpOut {
    pub(super) fn new(sock: Arc<UdpSocket>, to: SocketAddr) -> Self {
        RtpOut {
            sock,
            to,
            seq: rand::random(),
            ts: rand::random(),
            ssrc: rand::random(),
            stamped: 0,
            buf: [0; HEADER_LEN + FRAME],
        }
    }

    /// Send one packet, then advance the timestamp by `advance` samples.
    async fn send(&mut self, payload_type: u8, marker: bool, payload: &[u8], advance: u32) {
        if self.write(payload_type, marker, payload, advance).is_some() {
            let n = HEADER_LEN + payload.len();
            let _ = self.sock.send_to(&self.buf[..n], self.to).await;
        }
    }

    /// Fill the buffer with one packet and advance the counters.
    fn write(
        &mut self,
        payload_type: u8,
        marker: bool,
        payload: &[u8],
        advance: u32,
    ) -> Option<()> {
        let header = RtpHeader {
            marker,
            payload_type,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        let ok = wire::write_packet(&header, payload, &mut self.buf).ok();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(advance);
        ok.map(|_| ())
    }

    /// 20 ms of PCMU silence.
    async fn silence(&mut self) {
        self.send(0, false, &[0xFF; FRAME], 160).await;
    }

    /// 20 ms of PCMU silence with a send-time stamp in front.
    pub(super) async fn stamped(&mut self) {
        if self.write_stamped().is_some() {
            let _ = self.sock.send_to(&self.buf, self.to).await;
        }
    }

    /// Non-blocking [`RtpOut::stamped`] for a shared pacer: false when the
    /// socket's buffer is full (the packet is dropped, as a phone would).
    pub(super) fn try_stamped(&mut self) -> bool {
        self.write_stamped().is_some() && self.sock.try_send_to(&self.buf, self.to).is_ok()
    }

    fn write_stamped(&mut self) -> Option<()> {
        let mut payload = [0xFFu8; FRAME];
        // The stamp goes in last, as close to the send as it can be.
        self.write(0, false, &payload, 160)?;
        stamp::write(&mut payload, self.stamped);
        self.buf[HEADER_LEN..HEADER_LEN + stamp::STAMP_LEN]
            .copy_from_slice(&payload[..stamp::STAMP_LEN]);
        self.stamped = self.stamped.wrapping_add(1);
        Some(())
    }
}
