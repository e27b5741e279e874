//! URIs as they appear in request lines and name-addr headers.
//!
//! We only need structure for `sip:`/`sips:` (user, host, port, params);
//! every other scheme (`tel:`, `isbn:`, ...) is kept as opaque text, which is
//! all a UAS ever does with it (RFC 4475 `unksm2`, `novelsc`).

use std::fmt;

/// A parsed URI. `raw` is the exact text we received; we echo it unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    raw: String,
    scheme: String,
    sip: Option<SipUri>,
}

/// The parts of a SIP or SIPS URI (RFC 3261 §19.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// Userinfo before `@`, still percent-escaped, without password.
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// `;name[=value]` URI parameters, names lower-cased.
    pub params: Vec<(String, Option<String>)>,
    /// The `?headers` part, verbatim.
    pub headers: Option<String>,
}

/// Why a URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URI: {0}")]
pub struct UriError(pub &'static str);

impl Uri {
    /// Parse a URI. Whitespace or `<>` around it is an error: the callers
    /// have already removed the brackets that belong to name-addr syntax.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        if s.is_empty() {
            return Err(UriError("empty"));
        }
        if s.bytes()
            .any(|b| b.is_ascii_whitespace() || b == b'<' || b == b'>' || b == b'"')
        {
            return Err(UriError("whitespace, quote or angle bracket"));
        }
        let (scheme, rest) = s.split_once(':').ok_or(UriError("no scheme"))?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(UriError("bad scheme"));
        }
        let scheme = scheme.to_ascii_lowercase();
        let sip = if scheme == "sip" || scheme == "sips" {
            Some(parse_sip(rest)?)
        } else if rest.is_empty() {
            return Err(UriError("empty opaque part"));
        } else {
            None
        };
        Ok(Uri {
            raw: s.to_string(),
            scheme,
            sip,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Lower-cased scheme (`sip`, `sips`, `tel`, ...).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Structured view for `sip:`/`sips:` URIs.
    pub fn sip(&self) -> Option<&SipUri> {
        self.sip.as_ref()
    }

    /// The user part, percent-decoded, if any.
    pub fn user(&self) -> Option<String> {
        self.sip
            .as_ref()
            .and_then(|s| s.user.as_deref())
            .map(percent_decode)
    }

    pub fn host(&self) -> Option<&str> {
        self.sip.as_ref().map(|s| s.host.as_str())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn parse_sip(rest: &str) -> Result<SipUri, UriError> {
    // The host part never contains '@' (escaped as %40 elsewhere), so the
    // last '@' ends the userinfo even when the user contains ';', '?' or ':'
    // (RFC 4475 `semiuri`, `intmeth`).
    let (user, hostpart) = match rest.rfind('@') {
        Some(i) => {
            let userinfo = &rest[..i];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _pw)| u);
            if user.is_empty() {
                return Err(UriError("empty user"));
            }
            (Some(user.to_string()), &rest[i + 1..])
        }
        None => (None, rest),
    };
    let (hostpart, headers) = match hostpart.split_once('?') {
        Some((h, q)) => (h, Some(q.to_string())),
        None => (hostpart, None),
    };
    let mut parts = hostpart.split(';');
    let hostport = parts.next().unwrap_or_default();
    let (host, port) = parse_hostport(hostport)?;
    let mut params = Vec::new();
    for p in parts {
        if p.is_empty() {
            return Err(UriError("empty parameter"));
        }
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (p, None),
        };
        if name.is_empty() {
            return Err(UriError("empty parameter name"));
        }
        params.push((name.to_ascii_lowercase(), value));
    }
    Ok(SipUri {
        user,
        host,
        port,
        params,
        headers,
    })
}

/// Parse `host[:port]` where host is a name, IPv4 or `[IPv6]`.
pub fn parse_hostport(s: &str) -> Result<(String, Option<u16>), UriError> {
    let (host, port) = if let Some(v6) = s.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(UriError("unclosed IPv6"))?;
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(UriError("bad IPv6 reference"));
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UriError("junk after IPv6"))?),
        };
        (format!("[{h}]"), port)
    } else {
        let (h, p) = match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(UriError("bad host"));
        }
        (h.to_ascii_lowercase(), p)
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| UriError("port out of range"))?,
        ),
        Some(_) => return Err(UriError("bad port")),
    };
    Ok((host, port))
}

/// Decode `%hh` escapes; invalid escapes are kept literally (RFC 4475
/// `esc02` shows `%` that is not an escape). NUL bytes survive as U+0000.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri_parts() {
        let u = Uri::parse("sip:Alice@Example.COM:5070;transport=tcp;lr").unwrap();
        let s = u.sip().unwrap();
        assert_eq!(s.user.as_deref(), Some("Alice"));
        assert_eq!(s.host, "example.com");
        assert_eq!(s.port, Some(5070));
        assert_eq!(s.params[0], ("transport".into(), Some("tcp".into())));
        assert_eq!(s.params[1], ("lr".into(), None));
    }

    #[test]
    fn user_with_semicolon_and_escapes() {
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user().as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host(), Some("example.com"));
        let u = Uri::parse("sip:sips%3Auser%40example.com@example.net").unwrap();
        assert_eq!(u.user().as_deref(), Some("sips:user@example.com"));
    }

    #[test]
    fn ipv6_tel_and_headers() {
        let u = Uri::parse("sip:[2001:db8::10]:5070").unwrap();
        assert_eq!(u.host(), Some("[2001:db8::10]"));
        assert_eq!(u.sip().unwrap().port, Some(5070));
        let t = Uri::parse("tel:+1-212-555-1234").unwrap();
        assert_eq!(t.scheme(), "tel");
        assert!(t.sip().is_none());
        let h = Uri::parse("sip:user@example.com?Route=%3Csip:example.com%3E").unwrap();
        assert_eq!(
            h.sip().unwrap().headers.as_deref(),
            Some("Route=%3Csip:example.com%3E")
        );
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:@host",
            "sip:host:99999",
            "sip:host:",
            "sip:[::1",
            "sip:host;;x",
            "nocolon",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn percent_decode_keeps_non_escapes() {
        assert_eq!(percent_decode("%Z%45"), "%ZE");
        assert_eq!(percent_decode("null-%00-null"), "null-\0-null");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
