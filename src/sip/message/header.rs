//! The few header grammars a UAS needs: name-addr (From/To/Contact/PAI/RPID),
//! Via, CSeq, parameters and comma lists.
//!
//! Quoted strings are handled here, with backslash escapes, because that is
//! where `rsip` went wrong: a display name like `"J Rosenberg \\\""` or
//! `"Bell, Alexander"` must neither end early nor be split at the comma.

use super::uri::{parse_hostport, Uri};
use super::{Branch, Method, Tag};

/// Why a header value was refused; the caller adds the header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(pub String);

fn err<T>(msg: &str) -> Result<T, HeaderError> {
    Err(HeaderError(msg.to_string()))
}

/// `token` characters of RFC 3261 §25.1.
pub fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
        )
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Read a quoted string starting at `s[0] == '"'`. Returns the unescaped
/// content and the rest after the closing quote.
fn quoted(s: &str) -> Result<(String, &str), HeaderError> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return err("unterminated quoted string"),
            },
            '"' => return Ok((out, &s[i + 1..])),
            _ => out.push(c),
        }
    }
    err("unterminated quoted string")
}

/// Split a header value at commas that are outside quotes and `<>`.
pub fn split_list(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_quote, mut in_angle, mut escaped) = (0, false, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            ',' if !in_quote && !in_angle => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// Header parameters `;name[=value]`, LWS allowed around `;` and `=`.
pub type Params = Vec<(String, Option<String>)>;

/// Parse `;a=b;c` (the leading `;` included, or empty input).
pub fn parse_params(mut s: &str) -> Result<Params, HeaderError> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(out);
        }
        s = match s.strip_prefix(';') {
            Some(r) => r.trim_start(),
            None => return err("expected ';' before parameter"),
        };
        let name_end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
        let name = &s[..name_end];
        if name.is_empty() {
            return err("empty parameter");
        }
        s = s[name_end..].trim_start();
        let value = if let Some(r) = s.strip_prefix('=') {
            let r = r.trim_start();
            if r.starts_with('"') {
                let (v, rest) = quoted(r)?;
                s = rest;
                Some(v)
            } else {
                let end = r
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .unwrap_or(r.len());
                let v = &r[..end];
                // Wider than RFC 3261 `gen-value` on purpose: phones put
                // ':' '/' '@' in unquoted values and we only echo them.
                let ok = v
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, ',' | '"' | '<' | '>'));
                if v.is_empty() || !ok {
                    return err("bad parameter value");
                }
                s = &r[end..];
                Some(v.to_string())
            }
        } else {
            None
        };
        out.push((name.to_ascii_lowercase(), value));
    }
}

/// Look a parameter up by (lower-case) name.
pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

/// `[display-name] <uri> *(;param)` or `addr-spec *(;param)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted and unescaped; `None` when absent or empty.
    pub display_name: Option<String>,
    pub uri: Uri,
    pub params: Params,
}

impl NameAddr {
    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        let s = s.trim();
        let (display, rest) = if s.starts_with('"') {
            let (d, rest) = quoted(s)?;
            if !rest.trim_start().starts_with('<') {
                return err("quoted display name not followed by <URI>");
            }
            (Some(d), rest.trim_start())
        } else if let Some(lt) = s.find('<') {
            let d = s[..lt].trim();
            let ok = d
                .chars()
                .all(|c| is_token_char(c) || c == ' ' || c == '\t' || !c.is_ascii());
            if !ok {
                return err("display name is neither token nor quoted string");
            }
            (Some(d.to_string()), &s[lt..])
        } else {
            (None, s)
        };
        let (uri_text, params_text) = if let Some(r) = rest.strip_prefix('<') {
            let gt = r
                .find('>')
                .ok_or_else(|| HeaderError("missing '>'".into()))?;
            // Spaces inside <> are not allowed (RFC 4475 badaspec) but are
            // harmless; tolerate them rather than reject a real call.
            (r[..gt].trim(), &r[gt + 1..])
        } else {
            // addr-spec form: URI params end at the first ';' and the rest
            // are header params (RFC 3261 §20.10).
            match rest.find(';') {
                Some(i) => (rest[..i].trim_end(), &rest[i..]),
                None => (rest, ""),
            }
        };
        let uri = Uri::parse(uri_text).map_err(|e| HeaderError(e.to_string()))?;
        Ok(NameAddr {
            display_name: display.filter(|d| !d.is_empty()),
            uri,
            params: parse_params(params_text)?,
        })
    }

    pub fn tag(&self) -> Option<Tag> {
        param(&self.params, "tag")
            .filter(|t| !t.is_empty())
            .map(|t| Tag(t.to_string()))
    }
}

/// One Via entry (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Upper-cased transport (`UDP`, `TCP`, `TLS`, `SCTP`, or unknown).
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub params: Params,
}

impl Via {
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        let mut parts = s.splitn(3, '/');
        let name = parts.next().unwrap_or_default().trim();
        let version = parts.next().unwrap_or_default().trim();
        let rest = parts.next().unwrap_or_default().trim_start();
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return err("sent-protocol is not SIP/2.0");
        }
        let t_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return err("bad transport");
        }
        let rest = rest[t_end..].trim_start();
        let sb_end = rest.find(';').unwrap_or(rest.len());
        let (host, port) =
            parse_hostport(rest[..sb_end].trim()).map_err(|e| HeaderError(e.to_string()))?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: parse_params(&rest[sb_end..])?,
        })
    }

    pub fn branch(&self) -> Option<Branch> {
        param(&self.params, "branch")
            .filter(|b| !b.is_empty())
            .map(|b| Branch(b.to_string()))
    }

    /// `host[:port]` as written, used in the transaction key.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }

    pub fn received(&self) -> Option<&str> {
        param(&self.params, "received")
    }

    /// `Some(None)` when `rport` is present without a value (RFC 3581 ask).
    pub fn rport(&self) -> Option<Option<u16>> {
        param(&self.params, "rport").map(|v| v.parse().ok())
    }
}

/// Parse every Via entry of every Via header, in order.
pub fn parse_vias<'a>(values: impl Iterator<Item = &'a str>) -> Result<Vec<Via>, HeaderError> {
    let mut out = Vec::new();
    for v in values {
        for item in split_list(v) {
            if item.is_empty() {
                return err("empty Via entry");
            }
            out.push(Via::parse(item)?);
        }
    }
    if out.is_empty() {
        return err("missing");
    }
    Ok(out)
}

/// CSeq: sequence number and method (RFC 3261 §8.1.1.5: below 2^31).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        let mut it = s.split_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return err("expected '<number> <method>'");
        };
        if n.len() > 10 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return err("sequence number is not a 32-bit number");
        }
        let seq: u32 = n.parse().map_err(|_| HeaderError("too large".into()))?;
        if seq >= 1 << 31 {
            return err("sequence number not below 2^31");
        }
        if !is_token(m) {
            return err("bad method");
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_names_with_escapes_and_commas() {
        let n = NameAddr::parse(r#""J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(n.display_name.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(n.tag(), Some(Tag("98asjd8".into())));
        let n = NameAddr::parse(r#""Bell, Alexander" <sip:a.g.bell@example.com>;tag=43"#).unwrap();
        assert_eq!(n.display_name.as_deref(), Some("Bell, Alexander"));
        let n = NameAddr::parse(r#""Quoted string \"\"" <sip:jdrosen@example.com>"#).unwrap();
        assert_eq!(n.display_name.as_deref(), Some(r#"Quoted string """#));
    }

    #[test]
    fn token_display_and_addr_spec() {
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("caller"));
        let n = NameAddr::parse("sip:caller@example.net;tag=93942939o2").unwrap();
        assert_eq!(n.display_name, None);
        assert_eq!(n.uri.as_str(), "sip:caller@example.net");
        assert_eq!(n.tag(), Some(Tag("93942939o2".into())));
    }

    #[test]
    fn rejects_bad_name_addr() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "<sip:joe@example.org>;;;;",
            "<sip:joe@example.org",
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn via_with_lws_everywhere() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        assert_eq!(v.branch(), Some(Branch("390skdjuw".into())));
        let list = parse_vias(
            ["SIP  / 2.0  / TCP     spindle.example.com   ; branch  =   z9hG4bK9ikj8  , SIP/2.0/UDP 192.168.255.111;rport;received=1.2.3.4"]
                .into_iter(),
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].branch(), Some(Branch("z9hG4bK9ikj8".into())));
        assert_eq!(list[1].rport(), Some(None));
        assert_eq!(list[1].received(), Some("1.2.3.4"));
    }

    #[test]
    fn via_rejects_empty_params_and_entries() {
        assert!(parse_vias(["SIP/2.0/UDP 192.0.2.15;;,;,,"].into_iter()).is_err());
        assert!(parse_vias(std::iter::empty()).is_err());
        assert!(Via::parse("SIP/7.0/UDP host").is_err());
    }

    #[test]
    fn cseq_limits() {
        assert_eq!(CSeq::parse("0009   INVITE").unwrap().seq, 9);
        assert!(CSeq::parse("36893488147419103232 REGISTER").is_err());
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert!(CSeq::parse("1").is_err());
        assert!(CSeq::parse("-1 INVITE").is_err());
    }
}
