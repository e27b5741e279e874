//! A tolerant reader of SDP (RFC 8866 §5 grammar, `<type>=<value>` lines).
//!
//! Why not the `sdp` crate's `unmarshal` (we still use the crate to print):
//! it refuses any media kind or transport it does not list (`m=message ...
//! TCP/MSRP`, `m=application ... TCP/BFCP`, a new kind), so one m-line we
//! would simply reject with port 0 made the whole INVITE a 400, and it is
//! strict about line order. RFC 3264 §6 needs the opposite: read every m-line
//! whatever it is, mirror it, and decide per line. This reader only splits
//! lines into session and media sections; it does no DNS, allocates in
//! proportion to the input and caps the number of m-lines.

use super::SdpError;

/// More m-lines than any phone sends; each one costs an answer line.
pub const MAX_MEDIA: usize = 32;

/// `a=` attributes: name and optional value, in order.
pub type Attrs = Vec<(String, Option<String>)>;

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: String,
    pub port: u16,
    /// As written, e.g. `RTP/AVP`, `UDP/TLS/RTP/SAVPF`, `TCP/MSRP`.
    pub proto: String,
    pub formats: Vec<String>,
    /// The address of this section's `c=` line, if any.
    pub conn: Option<String>,
    pub attrs: Attrs,
}

/// The parts of an offer the negotiation reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sdp {
    pub conn: Option<String>,
    pub attrs: Attrs,
    pub media: Vec<Media>,
}

fn bad(msg: impl Into<String>) -> SdpError {
    SdpError::Parse(msg.into())
}

/// `c=IN IP4 192.0.2.1[/ttl[/n]]` -> the address.
fn connection(value: &str) -> Result<String, SdpError> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() != 3 {
        return Err(bad(format!(
            "c={value}: expected <nettype> <addrtype> <address>"
        )));
    }
    Ok(f[2].split('/').next().unwrap_or_default().to_string())
}

fn media_line(value: &str) -> Result<Media, SdpError> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() < 4 {
        return Err(bad(format!(
            "m={value}: expected <media> <port> <proto> <fmt>..."
        )));
    }
    // `<port>/<number of ports>` is legal; we only ever use the first.
    let port = f[1]
        .split('/')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("m={value}: port is not a number in 0..=65535")))?;
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./+*".contains(c))
    };
    if !token(f[0]) || !token(f[2]) {
        return Err(bad(format!("m={value}: bad media or proto token")));
    }
    Ok(Media {
        kind: f[0].to_string(),
        port,
        proto: f[2].to_string(),
        formats: f[3..].iter().map(|s| s.to_string()).collect(),
        conn: None,
        attrs: Vec::new(),
    })
}

/// Split `text` into session and media sections. Line order within a
/// section is not checked, unknown line types are skipped; LF alone ends a
/// line as well as CRLF (RFC 8866 §5 asks parsers to accept both).
pub fn parse(text: &str) -> Result<Sdp, SdpError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty());
    if lines.next().map(str::trim_end) != Some("v=0") {
        return Err(bad("does not start with v=0"));
    }
    let mut sdp = Sdp::default();
    for line in lines {
        let (kind, value) = match line.as_bytes() {
            [k, b'=', ..] if k.is_ascii_lowercase() => (*k, line[2..].trim_end()),
            _ => return Err(bad(format!("line {:?} is not <type>=<value>", trunc(line)))),
        };
        match kind {
            b'm' => {
                if sdp.media.len() == MAX_MEDIA {
                    return Err(bad(format!("more than {MAX_MEDIA} m-lines")));
                }
                sdp.media.push(media_line(value)?);
            }
            b'c' => {
                let addr = connection(value)?;
                match sdp.media.last_mut() {
                    Some(m) => m.conn = Some(addr),
                    None => sdp.conn = Some(addr),
                }
            }
            b'a' => {
                let (name, val) = match value.split_once(':') {
                    Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
                    None => (value.trim(), None),
                };
                let attrs = match sdp.media.last_mut() {
                    Some(m) => &mut m.attrs,
                    None => &mut sdp.attrs,
                };
                attrs.push((name.to_string(), val));
            }
            _ => {} // o s i u e p b t r z k: nothing we decide on
        }
    }
    Ok(sdp)
}

fn trunc(s: &str) -> String {
    s.chars().take(60).collect()
}

/// First value of attribute `name`.
pub fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

/// `a=rtpmap:<pt> <encoding>/<rate>[/<channels>]` for `pt`.
pub fn rtpmap<'a>(attrs: &'a Attrs, pt: &str) -> Option<&'a str> {
    attrs.iter().find_map(|(n, v)| {
        let (p, rest) = v.as_deref()?.split_once(' ')?;
        (n == "rtpmap" && p == pt).then_some(rest.trim())
    })
}
