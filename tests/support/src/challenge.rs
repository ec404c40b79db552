//! [`parse_challenges`]: a `WWW-Authenticate` field value read as RFC 9110 §11.6.1 defines
//! it, so that tests check what a careful client reads rather than comparing bytes.
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param  = token BWS "=" BWS ( token / quoted-string )
//! ```
//!
//! Parameter names are case-insensitive (kept lowercased here), a quoted string's
//! quoted-pairs are unescaped, and a malformed value is an error, never a guess.

use std::collections::BTreeMap;

/// One challenge: its scheme and its auth-params (or its token68).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme, as sent.
    pub scheme: String,
    /// The auth-params, names lowercased, values unquoted.
    pub params: BTreeMap<String, String>,
    /// The token68, if the challenge carries one instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of parameter `name` (any case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Every challenge of one or more `WWW-Authenticate` field values.
///
/// # Errors
///
/// Where the text is not a list of challenges: the position and what was expected.
pub fn parse_challenges(value: &str) -> Result<Vec<Challenge>, String> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.skip_ows_and_commas();
        if p.done() {
            return Ok(out);
        }
        let scheme = p.token().ok_or_else(|| p.error("an auth-scheme"))?;
        let mut challenge = Challenge {
            scheme,
            params: BTreeMap::new(),
            token68: None,
        };
        // `1*SP` then params or a token68; or the end of this challenge.
        let had_space = p.spaces();
        if had_space && !p.done() && p.peek() != Some(b',') {
            p.params_or_token68(&mut challenge)?;
        }
        out.push(challenge);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn error(&self, expected: &str) -> String {
        format!("at byte {}: expected {expected}", self.i)
    }
    fn spaces(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }
    fn skip_ows_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted_string(&mut self) -> Result<String, String> {
        // DQUOTE *( qdtext / quoted-pair ) DQUOTE
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("a closing quote")),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| self.error("UTF-8"));
                }
                Some(b'\\') => {
                    let escaped = self.s.get(self.i + 1).copied();
                    match escaped {
                        Some(c)
                            if c == b'\t'
                                || c == b' '
                                || (0x21..=0x7e).contains(&c)
                                || c >= 0x80 =>
                        {
                            out.push(c);
                            self.i += 2;
                        }
                        _ => return Err(self.error("a quoted-pair")),
                    }
                }
                Some(c)
                    if c == b'\t'
                        || c == b' '
                        || c == 0x21
                        || (0x23..=0x5b).contains(&c)
                        || (0x5d..=0x7e).contains(&c)
                        || c >= 0x80 =>
                {
                    out.push(c);
                    self.i += 1;
                }
                Some(_) => return Err(self.error("qdtext")),
            }
        }
    }
    /// `token68 / #auth-param`, up to the next challenge.
    fn params_or_token68(&mut self, challenge: &mut Challenge) -> Result<(), String> {
        let start = self.i;
        let name = self
            .token()
            .ok_or_else(|| self.error("an auth-param or token68"))?;
        let after_name = self.i;
        self.spaces();
        if self.peek() != Some(b'=') {
            return Err(self.error("'=' after an auth-param name"));
        }
        self.i += 1;
        // token68 ends in `=`s and is followed by the end or a comma: `abc==`.
        let before_value = self.i;
        self.spaces();
        if matches!(self.peek(), None | Some(b',' | b'=')) {
            self.i = after_name;
            while self.peek() == Some(b'=') {
                self.i += 1;
            }
            self.spaces();
            if matches!(self.peek(), None | Some(b',')) {
                challenge.token68 = Some(
                    String::from_utf8_lossy(&self.s[start..self.i])
                        .trim_end()
                        .to_owned(),
                );
                return Ok(());
            }
            self.i = before_value;
            return Err(self.error("an auth-param value"));
        }
        let mut name = name;
        loop {
            let value = match self.peek() {
                Some(b'"') => self.quoted_string()?,
                _ => self
                    .token()
                    .ok_or_else(|| self.error("a token or quoted-string"))?,
            };
            let key = name.to_ascii_lowercase();
            // RFC 9110 §11.2: each parameter name only once per challenge.
            if challenge.params.insert(key.clone(), value).is_some() {
                return Err(format!("parameter {key} given twice"));
            }
            // `OWS "," OWS` then another auth-param, or a new challenge (a scheme followed by
            // a space or the end), or the end.
            self.spaces();
            if self.done() {
                return Ok(());
            }
            if self.peek() != Some(b',') {
                return Err(self.error("',' between auth-params"));
            }
            let comma = self.i;
            self.skip_ows_and_commas();
            let next_start = self.i;
            let Some(next) = self.token() else {
                return if self.done() {
                    Ok(())
                } else {
                    Err(self.error("an auth-param"))
                };
            };
            self.spaces();
            if self.peek() == Some(b'=') {
                self.i += 1;
                self.spaces();
                name = next;
                continue;
            }
            // A new challenge begins at `next`.
            let _ = comma;
            self.i = next_start;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_schemes_params_quoted_pairs_and_several_challenges() {
        let all = parse_challenges(
            r#"Bearer realm="api", error="insufficient_user_authentication", error_description="a \"quoted\" word, and a comma", max_age=300, DPoP algs="ES256 EdDSA", Basic"#,
        )
        .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].scheme, "Bearer");
        assert_eq!(all[0].param("MAX_AGE"), Some("300"));
        assert_eq!(
            all[0].param("error_description"),
            Some(r#"a "quoted" word, and a comma"#)
        );
        assert_eq!(all[1].scheme, "DPoP");
        assert_eq!(all[1].param("algs"), Some("ES256 EdDSA"));
        assert_eq!(all[2].scheme, "Basic");
        assert!(all[2].params.is_empty());
        let token68 = parse_challenges("Negotiate abc-def==").unwrap();
        assert_eq!(token68[0].token68.as_deref(), Some("abc-def=="));
    }

    #[test]
    fn refuses_what_is_not_a_challenge() {
        for bad in [
            r#"Bearer realm="unterminated"#,
            r#"Bearer realm="a", realm="b""#,
            r#"Bearer realm"#,
            r#"Bearer realm="a" error="b""#,
            "\"quoted\" scheme",
        ] {
            assert!(parse_challenges(bad).is_err(), "{bad}");
        }
    }
}
