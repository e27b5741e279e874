//! SDP offer/answer for one G.711 audio stream (RFC 3264).
//!
//! Our own tolerant reader ([`parse`], see why there) splits the offer; the
//! `sdp` crate prints the answer; this module decides. Every m-line of the
//! offer gets a line in the answer, in order (RFC 3264 §6): the first usable
//! audio stream is accepted, every other line (video, text, MSRP, T.38, a
//! second audio stream, one already at port 0, SRTP-only) is rejected with
//! port 0. Usable means `audio`, a port, RTP/AVP or RTP/AVPF (a=crypto next
//! to RTP/AVP is best-effort SRTP and ignored: we answer plain RTP), PCMU or
//! PCMA, and an IP literal to send to. The codec follows the caller's order
//! (static 0 and 8 need no `a=rtpmap`), the caller's 8 kHz telephone-event
//! payload type is kept (101, 120, 96 all occur; a 48 kHz one next to it is
//! opus's, not ours), ICE, rtcp-mux, rtcp-fb, ssrc, `b=` and the like are
//! read past (we answer without them, which RFC 8445 and 5761 read as "not
//! used"), and the direction is mirrored so hold (sendonly/inactive,
//! `c=0.0.0.0`) is answered correctly. Parsing never resolves names: a `c=`
//! host that is not an IP literal makes that stream unusable, not a lookup.
//!
//! Addresses we will not send to (issue 14, item 7: an INVITE with a forged
//! source must not turn hotline into a reflector): a multicast `c=` makes
//! the stream unusable (warn-code 330, "Multicast not available", RFC 3261
//! §20.43), so do the IPv4 broadcast and the rest of 0.0.0.0/8 (399: no
//! warn-code of §20.43 names them; 304 and 305 are about media types and
//! codecs, which are fine). `0.0.0.0` is hold: [`check_address`] accepts it
//! in a re-offer, or in a first offer marked sendonly or inactive (RFC 3264
//! §8.4), and refuses it in a first offer that expects our audio (488,
//! 399: there is nowhere to play the greeting); a loopback `c=` from a peer
//! that is not itself on loopback is refused too (it would aim our RTP at
//! this host's own services).

use std::net::{IpAddr, SocketAddr};

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use super::codec::Codec;

#[path = "sdp_parse.rs"]
pub mod parse;

use parse::{Attrs, Media};

/// Packet time we send and ask for.
pub const PTIME_MS: u32 = 20;
/// Payload type we offer for telephone-event when we make the offer.
pub const OUR_EVENT_PT: u8 = 101;
/// The warn-agent of our Warning headers (RFC 3261 §20.43 allows a pseudonym).
pub const WARN_AGENT: &str = "hotline";

/// Why an offer cannot be answered; [`SdpError::sip_status`] gives the reply
/// and [`SdpError::warning`] the Warning header value to put on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("HL-SDP-400 SDP does not parse: {0}")]
    Parse(String),
    #[error("HL-SDP-488 the offer has no active audio stream")]
    NoAudio,
    #[error("HL-SDP-488 no audio stream on a transport we can do: offered {0:?}, we take RTP/AVP or RTP/AVPF")]
    UnsupportedTransport(Vec<String>),
    #[error("HL-SDP-488 no common codec: caller offers payload types {0:?}, we take PCMU (0) or PCMA (8)")]
    NoCommonCodec(Vec<String>),
    #[error("HL-SDP-488 connection address {0:?} is not an IP address")]
    BadAddress(String),
    #[error("HL-SDP-488 connection address {0} is multicast; we send RTP to one unicast address")]
    Multicast(IpAddr),
    #[error("HL-SDP-488 connection address {0} is a broadcast or reserved address, not a host")]
    NotUnicast(IpAddr),
    #[error("HL-SDP-488 connection address {0} (hold) in an offer that expects our audio; name the address to send to, or mark the stream sendonly or inactive")]
    NoAddress(IpAddr),
    #[error("HL-SDP-488 connection address {0} is loopback but the request came from {1}")]
    Loopback(IpAddr, IpAddr),
}

impl SdpError {
    /// The SIP status code that rejects the INVITE (or re-INVITE, UPDATE)
    /// carrying this offer.
    pub fn sip_status(&self) -> u16 {
        match self {
            SdpError::Parse(_) => 400,
            _ => 488,
        }
    }

    /// Reason phrase for [`SdpError::sip_status`].
    pub fn reason(&self) -> &'static str {
        match self {
            SdpError::Parse(_) => "Bad Request (SDP)",
            _ => "Not Acceptable Here",
        }
    }

    /// RFC 3261 §20.43 warn-code: 304 media type, 305 media format, 302
    /// transport, 301 address format, 399 anything else.
    pub fn warn_code(&self) -> u16 {
        match self {
            SdpError::Parse(_) => 399,
            SdpError::NoAudio => 304,
            SdpError::UnsupportedTransport(_) => 302,
            SdpError::NoCommonCodec(_) => 305,
            SdpError::BadAddress(_) => 301,
            SdpError::Multicast(_) => 330,
            SdpError::NotUnicast(_) | SdpError::NoAddress(_) | SdpError::Loopback(..) => 399,
        }
    }

    /// The value of the `Warning` header for the refusal, e.g.
    /// `305 hotline "Incompatible media format: ..."`.
    pub fn warning(&self) -> String {
        let text = match self {
            SdpError::Parse(d) => format!("SDP does not parse: {d}"),
            SdpError::NoAudio => "Media type not available: no active audio stream".into(),
            SdpError::UnsupportedTransport(p) => format!(
                "Incompatible transport protocol: {} offered, RTP/AVP or RTP/AVPF accepted",
                p.join(", ")
            ),
            SdpError::NoCommonCodec(_) => {
                "Incompatible media format: PCMU (0) or PCMA (8) accepted".into()
            }
            SdpError::BadAddress(a) => {
                format!("Incompatible network address format: {a} is not an IP literal")
            }
            SdpError::Multicast(a) => format!("Multicast not available: {a}"),
            SdpError::NotUnicast(a) => format!("Connection address {a} is not a unicast host"),
            SdpError::NoAddress(a) => format!(
                "Connection address {a} outside hold: name an address or use sendonly/inactive"
            ),
            SdpError::Loopback(a, _) => {
                format!("Connection address {a} is loopback, the request is not")
            }
        };
        warning_value(self.warn_code(), &text)
    }
}

/// `<code> hotline "<text>"`, the text made a safe quoted-string (printable
/// ASCII, no quote or backslash, at most 120 characters).
pub fn warning_value(code: u16, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .take(120)
        .collect();
    format!("{code} {WARN_AGENT} \"{clean}\"")
}

/// Media direction (RFC 3264 section 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }
    /// The direction to answer with: the offer seen from our side.
    pub fn reversed(self) -> Self {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
    fn find(attrs: &Attrs) -> Option<Self> {
        attrs.iter().find_map(|(n, _)| match n.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }
}

/// An m-line of the offer as the answer must mirror it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offered {
    media: String,
    proto: String,
    /// The first format, repeated in the rejected line (a line needs one).
    format: String,
}

/// What was agreed for the call's audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// Payload type for `codec` as the caller numbered it.
    pub payload_type: u8,
    /// The caller's telephone-event payload type, if offered.
    pub telephone_event: Option<u8>,
    /// Where to send RTP (until symmetric RTP learns better).
    pub remote: SocketAddr,
    /// The caller's requested packet time (we send 20 ms regardless).
    pub remote_ptime_ms: Option<u32>,
    /// Our direction, as put in the answer.
    pub direction: Direction,
    /// The direction the offer itself wrote (sendrecv when it wrote none),
    /// before `c=0.0.0.0` is read as hold.
    pub offer_direction: Direction,
    /// Index of the chosen m-line in the offer.
    mline: usize,
    /// Every m-line of the offer, so the answer mirrors them in order.
    offered: Vec<Offered>,
}

impl Negotiated {
    /// Index of the accepted m-line in the offer (0-based).
    pub fn accepted_mline(&self) -> usize {
        self.mline
    }
    /// How many m-lines the offer (and so the answer) has.
    pub fn mline_count(&self) -> usize {
        self.offered.len()
    }
}

/// Our side of the session: where we receive RTP.
#[derive(Debug, Clone, Copy)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub port: u16,
    /// o= session id and version (bump the version on re-INVITE).
    pub session_id: u64,
    pub session_version: u64,
}

/// Transports whose media we can exchange: plain RTP, with or without the
/// feedback profile (AVPF is AVP plus RTCP feedback we may ignore).
fn rtp_transport(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// The audio parameters of one m-line, or why it cannot be used.
struct Audio {
    codec: Codec,
    payload_type: u8,
    telephone_event: Option<u8>,
    remote: SocketAddr,
}

fn audio_choice(m: &Media, session_conn: Option<&str>) -> Result<Audio, SdpError> {
    let mut chosen = None;
    let mut telephone_event = None;
    for fmt in &m.formats {
        let Ok(pt) = fmt.parse::<u8>() else { continue };
        if pt > 127 {
            continue;
        }
        let map = parse::rtpmap(&m.attrs, fmt);
        let name = map.and_then(|r| r.split('/').next()).unwrap_or("");
        let rate_ok = map.is_none_or(|r| r.split('/').nth(1).map(str::trim) == Some("8000"));
        if name.eq_ignore_ascii_case("telephone-event") {
            // Events share the audio clock: only the 8 kHz one fits G.711.
            if rate_ok {
                telephone_event.get_or_insert(pt);
            }
            continue;
        }
        let codec = match map {
            Some(_) => Codec::from_encoding_name(name).filter(|_| rate_ok),
            None => Codec::from_payload_type(pt), // static: no rtpmap needed
        };
        if let (None, Some(c)) = (chosen, codec) {
            chosen = Some((c, pt));
        }
    }
    let (codec, payload_type) = chosen.ok_or_else(|| SdpError::NoCommonCodec(m.formats.clone()))?;
    let host = m.conn.as_deref().or(session_conn).unwrap_or("");
    let ip: IpAddr = host
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| SdpError::BadAddress(host.to_string()))?;
    unicast_or_hold(ip)?;
    Ok(Audio {
        codec,
        payload_type,
        telephone_event,
        remote: SocketAddr::new(ip, m.port),
    })
}

/// Read the caller's offer and choose the stream, codec, events and
/// direction. When no stream is usable the error names the best reason:
/// a codec or address problem of an RTP audio stream, else a transport we
/// cannot do, else no audio at all.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
    let sd = parse::parse(offer)?;
    let offered = sd
        .media
        .iter()
        .map(|m| Offered {
            media: m.kind.clone(),
            proto: m.proto.clone(),
            format: m.formats.first().cloned().unwrap_or_else(|| "0".into()),
        })
        .collect();
    let mut first_err: Option<SdpError> = None;
    let mut transports = Vec::new();
    let mut found = None;
    for (i, m) in sd.media.iter().enumerate() {
        if m.kind != "audio" || m.port == 0 {
            continue;
        }
        if !rtp_transport(&m.proto) {
            transports.push(m.proto.clone());
            continue;
        }
        match audio_choice(m, sd.conn.as_deref()) {
            Ok(a) => {
                found = Some((i, m, a));
                break;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let Some((mline, m, audio)) = found else {
        return Err(first_err.unwrap_or(if transports.is_empty() {
            SdpError::NoAudio
        } else {
            SdpError::UnsupportedTransport(transports)
        }));
    };
    let ptime = parse::attr(&m.attrs, "ptime").or(parse::attr(&sd.attrs, "ptime"));
    let offer_direction = Direction::find(&m.attrs)
        .or(Direction::find(&sd.attrs))
        .unwrap_or(Direction::SendRecv);
    let mut direction = offer_direction;
    if audio.remote.ip().is_unspecified() && direction == Direction::SendRecv {
        direction = Direction::SendOnly; // RFC 2543 hold: c=0.0.0.0
    }
    Ok(Negotiated {
        codec: audio.codec,
        payload_type: audio.payload_type,
        telephone_event: audio.telephone_event,
        remote: audio.remote,
        // `a=ptime:20` and the odd `a=ptime:20.0` alike.
        remote_ptime_ms: ptime.and_then(|p| p.trim().split('.').next()?.parse().ok()),
        direction: direction.reversed(),
        offer_direction,
        mline,
        offered,
    })
}

/// A `c=` address we may send to, or `0.0.0.0`/`::` (hold, judged by
/// [`check_address`]).
fn unicast_or_hold(ip: IpAddr) -> Result<(), SdpError> {
    let ip = ip.to_canonical();
    if ip.is_multicast() {
        return Err(SdpError::Multicast(ip));
    }
    let reserved = match ip {
        IpAddr::V4(a) => a.is_broadcast() || (a.octets()[0] == 0 && !a.is_unspecified()),
        IpAddr::V6(_) => false,
    };
    if reserved {
        return Err(SdpError::NotUnicast(ip));
    }
    Ok(())
}

/// The checks of an offer's address that depend on the dialog: `initial`
/// for the offer that opens the session (the first INVITE's), `signalling`
/// the IP the request came from.
pub fn check_address(
    neg: &Negotiated,
    initial: bool,
    signalling: Option<IpAddr>,
) -> Result<(), SdpError> {
    let ip = neg.remote.ip().to_canonical();
    let hold = matches!(
        neg.offer_direction,
        Direction::SendOnly | Direction::Inactive
    );
    if ip.is_unspecified() && initial && !hold {
        return Err(SdpError::NoAddress(ip));
    }
    if let Some(sig) = signalling.map(|s| s.to_canonical()) {
        if ip.is_loopback() && !sig.is_loopback() {
            return Err(SdpError::Loopback(ip, sig));
        }
    }
    Ok(())
}

fn session(local: &LocalMedia) -> SessionDescription {
    let (ip_type, ip) = match local.addr {
        IpAddr::V4(a) => ("IP4", a.to_string()),
        IpAddr::V6(a) => ("IP6", a.to_string()),
    };
    SessionDescription {
        origin: Origin {
            username: "hotline".into(),
            session_id: local.session_id,
            session_version: local.session_version,
            network_type: "IN".into(),
            address_type: ip_type.into(),
            unicast_address: ip.clone(),
        },
        session_name: "hotline".into(),
        connection_information: Some(ConnectionInformation {
            network_type: "IN".into(),
            address_type: ip_type.into(),
            address: Some(Address {
                address: ip,
                ttl: None,
                range: None,
            }),
        }),
        time_descriptions: vec![TimeDescription {
            timing: Timing {
                start_time: 0,
                stop_time: 0,
            },
            repeat_times: vec![],
        }],
        ..Default::default()
    }
}

fn audio(port: u16, formats: Vec<String>, attributes: Vec<Attribute>) -> MediaDescription {
    line("audio", "RTP/AVP", port, formats, attributes)
}

fn line(
    media: &str,
    proto: &str,
    port: u16,
    formats: Vec<String>,
    attributes: Vec<Attribute>,
) -> MediaDescription {
    MediaDescription {
        media_name: MediaName {
            media: media.into(),
            port: RangedPort {
                value: i32::from(port) as isize,
                range: None,
            },
            protos: proto.split('/').map(String::from).collect(),
            formats,
        },
        attributes,
        ..Default::default()
    }
}

fn attr(key: &str, value: Option<String>) -> Attribute {
    Attribute::new(key.into(), value)
}

/// The answer for `neg`: as many m-lines as the offer, in its order; the
/// accepted one with one codec, the caller's event payload type and our
/// direction, every other one rejected with port 0 (RFC 3264 §6).
pub fn build_answer(neg: &Negotiated, local: &LocalMedia) -> String {
    let mut sd = session(local);
    for (i, offered) in neg.offered.iter().enumerate() {
        if i != neg.mline {
            let m = line(
                &offered.media,
                &offered.proto,
                0,
                vec![offered.format.clone()],
                vec![],
            );
            sd.media_descriptions.push(m);
            continue;
        }
        let pt = neg.payload_type.to_string();
        let mut formats = vec![pt.clone()];
        let mut attrs = vec![attr(
            "rtpmap",
            Some(format!("{pt} {}/8000", neg.codec.encoding_name())),
        )];
        if let Some(ev) = neg.telephone_event {
            formats.push(ev.to_string());
            attrs.push(attr("rtpmap", Some(format!("{ev} telephone-event/8000"))));
            attrs.push(attr("fmtp", Some(format!("{ev} 0-16"))));
        }
        attrs.push(attr("ptime", Some(PTIME_MS.to_string())));
        attrs.push(attr(neg.direction.attr(), None));
        // Same transport as offered (RTP/AVP or RTP/AVPF), RFC 3264 §6.1.
        sd.media_descriptions
            .push(line("audio", &offered.proto, local.port, formats, attrs));
    }
    sd.marshal()
}

/// Our offer for a late-offer INVITE (no SDP from the caller): PCMU, PCMA,
/// telephone-event; the caller's answer then goes through [`negotiate`].
pub fn build_offer(local: &LocalMedia) -> String {
    let mut sd = session(local);
    let ev = OUR_EVENT_PT.to_string();
    let formats = vec!["0".into(), "8".into(), ev.clone()];
    let attrs = vec![
        attr("rtpmap", Some("0 PCMU/8000".into())),
        attr("rtpmap", Some("8 PCMA/8000".into())),
        attr("rtpmap", Some(format!("{ev} telephone-event/8000"))),
        attr("fmtp", Some(format!("{ev} 0-16"))),
        attr("ptime", Some(PTIME_MS.to_string())),
        attr("sendrecv", None),
    ];
    sd.media_descriptions
        .push(audio(local.port, formats, attrs));
    sd.marshal()
}

#[cfg(test)]
#[path = "sdp_tests.rs"]
mod tests;
