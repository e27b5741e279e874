//! The `Digest` parameter list shared by `Authorization`,
//! `Proxy-Authorization` and the `*-Authenticate` challenges
//! (RFC 7235 §2.1 auth-param, RFC 3261 §25.1 quoted-string).
//!
//! A hand-written lexer rather than a split at commas, because a comma or
//! an escaped quote inside a quoted value (`uri="sip:a,b"`, `username="a\"b"`)
//! must not end it. Limits on the whole value, on each parameter and on the
//! number of parameters bound the work a peer can ask for; duplicates are
//! refused because which copy "wins" is exactly what an attacker would like
//! to choose.

use super::error::{clip, AuthError};

/// Longest `Authorization` value we read at all.
pub const MAX_HEADER_LEN: usize = 4096;
/// Longest single parameter name or value (after unescaping).
pub const MAX_PARAM_LEN: usize = 1024;
/// Most parameters in one value (a real one has about ten).
pub const MAX_PARAMS: usize = 32;

/// Parse `Digest name=value, name="quoted", ...` into (lower-case name,
/// unescaped value) pairs, in order. The scheme is case-insensitive; empty
/// list elements (`a=1,,b=2`) are allowed as in RFC 7230 §7.
pub fn parse_digest_params(value: &str) -> Result<Vec<(String, String)>, AuthError> {
    if value.len() > MAX_HEADER_LEN {
        return Err(AuthError::TooLong {
            limit: MAX_HEADER_LEN,
        });
    }
    let mut lx = Lexer { s: value, pos: 0 };
    lx.skip_ws();
    let scheme = lx.token();
    if !scheme.eq_ignore_ascii_case("digest") {
        return Err(AuthError::NotDigest);
    }
    if !lx.at_end() && !lx.skip_ws() {
        return Err(lx.syntax("no space after the scheme"));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    loop {
        lx.skip_ws();
        if lx.at_end() {
            return Ok(out);
        }
        if lx.eat(b',') {
            continue;
        }
        let (name, value) = lx.param()?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(AuthError::Duplicate { name: clip(&name) });
        }
        if out.len() == MAX_PARAMS {
            return Err(AuthError::TooManyParams { limit: MAX_PARAMS });
        }
        out.push((name, value));
        lx.skip_ws();
        if !lx.at_end() && !lx.eat(b',') {
            return Err(lx.syntax("expected ',' between parameters"));
        }
    }
}

/// RFC 3261 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Linear white space as it can remain after header unfolding.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skip white space; true when there was some.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn syntax(&self, detail: &'static str) -> AuthError {
        AuthError::Syntax {
            detail,
            at: self.pos,
        }
    }

    /// A (possibly empty) run of token characters. ASCII only, so the
    /// slice always ends on a character boundary.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// `name LWS "=" LWS (token | quoted-string)`.
    fn param(&mut self) -> Result<(String, String), AuthError> {
        let name = self.token();
        if name.is_empty() {
            return Err(self.syntax("expected a parameter name"));
        }
        if name.len() > MAX_PARAM_LEN {
            return Err(AuthError::ParamTooLong {
                name: clip(name),
                limit: MAX_PARAM_LEN,
            });
        }
        let name = name.to_ascii_lowercase();
        self.skip_ws();
        if !self.eat(b'=') {
            return Err(self.syntax("expected '=' after a parameter name"));
        }
        self.skip_ws();
        let value = if self.eat(b'"') {
            self.quoted(&name)?
        } else {
            self.bare_value()?
        };
        if value.len() > MAX_PARAM_LEN {
            return Err(AuthError::ParamTooLong {
                name: clip(&name),
                limit: MAX_PARAM_LEN,
            });
        }
        Ok((name, value))
    }

    /// An unquoted value. Wider than `token` on purpose (some phones send
    /// `uri=sip:host` unquoted); still no quotes, controls or separators.
    fn bare_value(&mut self) -> Result<String, AuthError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if is_ws(b) || b == b',' {
                break;
            }
            if b == b'"' || b < 0x20 || b == 0x7f {
                return Err(self.syntax("bad character in an unquoted value"));
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.syntax("empty parameter value"));
        }
        // Stops only before an ASCII byte or at the end: a char boundary.
        Ok(self.s[start..self.pos].to_string())
    }

    /// The rest of a quoted string whose opening quote was eaten: unescape
    /// `\x` pairs, refuse control characters, stop at the closing quote.
    fn quoted(&mut self, name: &str) -> Result<String, AuthError> {
        let mut out = String::new();
        let rest = &self.s[self.pos..];
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            let c = match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, '\r' | '\n')) | None => break,
                    Some((_, e)) => e,
                },
                '\t' => c,
                c if c.is_control() => {
                    self.pos += i;
                    return Err(self.syntax("control character in a quoted string"));
                }
                c => c,
            };
            if out.len() >= MAX_PARAM_LEN {
                return Err(AuthError::ParamTooLong {
                    name: clip(name),
                    limit: MAX_PARAM_LEN,
                });
            }
            out.push(c);
        }
        self.pos = self.s.len();
        Err(self.syntax("unterminated quoted string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> Vec<(String, String)> {
        parse_digest_params(v).unwrap_or_else(|e| panic!("{v:?}: {e}"))
    }

    #[test]
    fn quoted_values_keep_commas_and_escapes() {
        let got = p(r#"Digest username="a\"b, c", uri="sip:x,y",nc=00000001"#);
        assert_eq!(got[0], ("username".into(), "a\"b, c".into()));
        assert_eq!(got[1], ("uri".into(), "sip:x,y".into()));
        assert_eq!(got[2], ("nc".into(), "00000001".into()));
    }

    #[test]
    fn scheme_case_and_whitespace_anywhere() {
        let got = p("  dIgEsT\tUserName = \"a\" ,\r\n realm\t=\"r\"  ,, nc=1 ");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], ("username".into(), "a".into()));
        assert_eq!(got[2], ("nc".into(), "1".into()));
        assert!(p("Digest").is_empty());
    }

    #[test]
    fn refusals() {
        let cases: &[(&str, &str)] = &[
            ("Basic dXNlcjpwYXNz", "HL-AUTH-SCHEME"),
            ("Digestusername=\"a\"", "HL-AUTH-SCHEME"),
            ("Digest username=\"a", "HL-AUTH-SYNTAX"),
            ("Digest username=\"a\\", "HL-AUTH-SYNTAX"),
            ("Digest username", "HL-AUTH-SYNTAX"),
            ("Digest username=", "HL-AUTH-SYNTAX"),
            ("Digest =x", "HL-AUTH-SYNTAX"),
            ("Digest a=1 b=2", "HL-AUTH-SYNTAX"),
            ("Digest a=\"x\u{1}\"", "HL-AUTH-SYNTAX"),
            ("Digest a=x\"y", "HL-AUTH-SYNTAX"),
            ("Digest a=1, A=2", "HL-AUTH-DUPLICATE"),
        ];
        for (v, code) in cases {
            let e = parse_digest_params(v).expect_err(v);
            assert_eq!(e.code(), *code, "{v:?}: {e}");
        }
    }

    #[test]
    fn limits_at_the_bound() {
        let at = format!("Digest a=\"{}\"", "x".repeat(MAX_PARAM_LEN));
        assert_eq!(p(&at)[0].1.len(), MAX_PARAM_LEN);
        let over = format!("Digest a=\"{}\"", "x".repeat(MAX_PARAM_LEN + 1));
        assert_eq!(
            parse_digest_params(&over).unwrap_err().code(),
            "HL-AUTH-PARAM-TOO-LONG"
        );
        let bare = format!("Digest a={}", "x".repeat(MAX_PARAM_LEN + 1));
        assert_eq!(
            parse_digest_params(&bare).unwrap_err().code(),
            "HL-AUTH-PARAM-TOO-LONG"
        );
        let many: Vec<String> = (0..MAX_PARAMS).map(|i| format!("p{i}=1")).collect();
        assert_eq!(p(&format!("Digest {}", many.join(","))).len(), MAX_PARAMS);
        let too_many = format!("Digest {},x=1", many.join(","));
        assert_eq!(
            parse_digest_params(&too_many).unwrap_err().code(),
            "HL-AUTH-TOO-MANY-PARAMS"
        );
        let long = format!("Digest a=\"{}\"", "x".repeat(MAX_HEADER_LEN));
        assert_eq!(
            parse_digest_params(&long).unwrap_err().code(),
            "HL-AUTH-TOO-LONG"
        );
    }

    #[test]
    fn non_ascii_inside_quotes_is_kept() {
        assert_eq!(p("Digest username=\"Zoë\"")[0].1, "Zoë");
        assert_eq!(p("Digest username=Zoë")[0].1, "Zoë");
    }
}
