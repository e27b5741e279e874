//! SDP offer/answer for one G.711 audio stream, on the webrtc-rs `sdp` crate.
//!
//! The crate parses and prints; this module decides. From the caller's offer
//! it takes the first usable audio stream, picks PCMU or PCMA in the caller's
//! order of preference (static payload types 0 and 8 need no `a=rtpmap`),
//! keeps the caller's telephone-event payload type (101, 120 and 96 all
//! occur, and we must answer with theirs), and mirrors the direction so a
//! caller putting us on hold (sendonly/inactive) is answered correctly.
//! Parsing never resolves names: a `c=` host that is not an IP literal is an
//! error, not a DNS lookup.

use std::io::Cursor;
use std::net::{IpAddr, SocketAddr};

use sdp::description::common::{Address, Attribute, ConnectionInformation};
use sdp::description::media::{MediaDescription, MediaName, RangedPort};
use sdp::description::session::{Origin, SessionDescription, TimeDescription, Timing};

use super::codec::Codec;

/// Packet time we send and ask for.
pub const PTIME_MS: u32 = 20;
/// Payload type we offer for telephone-event when we make the offer.
pub const OUR_EVENT_PT: u8 = 101;

/// Why an offer cannot be answered; [`SdpError::sip_status`] gives the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("HL-SDP-400 SDP does not parse: {0}")]
    Parse(String),
    #[error("HL-SDP-488 the offer has no active RTP/AVP audio stream")]
    NoAudio,
    #[error("HL-SDP-488 no common codec: caller offers payload types {0:?}, we take PCMU (0) or PCMA (8)")]
    NoCommonCodec(Vec<String>),
    #[error("HL-SDP-400 connection address {0:?} is not an IP address")]
    BadAddress(String),
}

impl SdpError {
    /// The SIP status code that rejects the INVITE carrying this offer.
    pub fn sip_status(&self) -> u16 {
        match self {
            SdpError::NoAudio | SdpError::NoCommonCodec(_) => 488,
            SdpError::Parse(_) | SdpError::BadAddress(_) => 400,
        }
    }
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
    fn find(attrs: &[Attribute]) -> Option<Self> {
        attrs.iter().find_map(|a| match a.key.as_str() {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        })
    }
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
    /// Index of the chosen m-line in the offer.
    mline: usize,
    /// The offer's m-lines (media, formats) so the answer can mirror them.
    offered: Vec<(String, String)>,
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

fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    SessionDescription::unmarshal(&mut Cursor::new(text.as_bytes()))
        .map_err(|e| SdpError::Parse(e.to_string()))
}

fn rtpmap<'a>(attrs: &'a [Attribute], pt: &str) -> Option<&'a str> {
    attrs.iter().find_map(|a| {
        let v = a.value.as_deref()?;
        let (p, rest) = v.split_once(' ')?;
        (a.key == "rtpmap" && p == pt).then_some(rest.trim())
    })
}

/// Read the caller's offer and choose codec, events and direction.
pub fn negotiate(offer: &str) -> Result<Negotiated, SdpError> {
    let sd = parse(offer)?;
    let offered = sd
        .media_descriptions
        .iter()
        .map(|m| {
            (
                m.media_name.media.clone(),
                m.media_name.formats.first().cloned().unwrap_or_default(),
            )
        })
        .collect();
    let (mline, m) = sd
        .media_descriptions
        .iter()
        .enumerate()
        .find(|(_, m)| {
            m.media_name.media == "audio"
                && m.media_name.port.value > 0
                && m.media_name.protos.join("/").starts_with("RTP/AVP")
        })
        .ok_or(SdpError::NoAudio)?;
    let mut chosen = None;
    let mut telephone_event = None;
    for fmt in &m.media_name.formats {
        let Ok(pt) = fmt.parse::<u8>() else { continue };
        let map = rtpmap(&m.attributes, fmt);
        let name = map.and_then(|r| r.split('/').next()).unwrap_or("");
        let rate_ok = map.is_none_or(|r| r.split('/').nth(1) == Some("8000"));
        if name.eq_ignore_ascii_case("telephone-event") && rate_ok {
            telephone_event.get_or_insert(pt);
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
    let (codec, payload_type) =
        chosen.ok_or_else(|| SdpError::NoCommonCodec(m.media_name.formats.clone()))?;
    let conn = m
        .connection_information
        .as_ref()
        .or(sd.connection_information.as_ref());
    let host = conn
        .and_then(|c| c.address.as_ref())
        .map(|a| a.address.as_str())
        .unwrap_or("");
    let ip: IpAddr = host
        .parse()
        .map_err(|_| SdpError::BadAddress(host.to_string()))?;
    let port = u16::try_from(m.media_name.port.value).map_err(|_| SdpError::NoAudio)?;
    let ptime = m
        .attribute("ptime")
        .flatten()
        .or(sd.attribute("ptime").map(String::as_str));
    let mut direction = Direction::find(&m.attributes)
        .or(Direction::find(&sd.attributes))
        .unwrap_or(Direction::SendRecv);
    if ip.is_unspecified() && direction == Direction::SendRecv {
        direction = Direction::SendOnly; // RFC 2543 hold: c=0.0.0.0
    }
    Ok(Negotiated {
        codec,
        payload_type,
        telephone_event,
        remote: SocketAddr::new(ip, port),
        remote_ptime_ms: ptime.and_then(|p| p.trim().parse().ok()),
        direction: direction.reversed(),
        mline,
        offered,
    })
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
    MediaDescription {
        media_name: MediaName {
            media: "audio".into(),
            port: RangedPort {
                value: i32::from(port) as isize,
                range: None,
            },
            protos: vec!["RTP".into(), "AVP".into()],
            formats,
        },
        attributes,
        ..Default::default()
    }
}

fn attr(key: &str, value: Option<String>) -> Attribute {
    Attribute::new(key.into(), value)
}

/// The answer for `neg`: one codec, the caller's event payload type, our
/// direction; other offered m-lines are rejected with port 0 (RFC 3264).
pub fn build_answer(neg: &Negotiated, local: &LocalMedia) -> String {
    let mut sd = session(local);
    for (i, (media, first_fmt)) in neg.offered.iter().enumerate() {
        if i != neg.mline {
            let mut m = audio(0, vec![first_fmt.clone()], vec![]);
            m.media_name.media = media.clone();
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
        sd.media_descriptions
            .push(audio(local.port, formats, attrs));
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
