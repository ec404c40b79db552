//! Text from clients as the log may show it: [`LoggedName`], [`LoggedPath`].

/// The longest part of a username used as a throttle key or written to the log, in characters.
pub const USERNAME_LOG_LIMIT: usize = 64;

/// A username as the log may show it: control characters and quotes escaped
/// (`char::escape_debug`), at most [`USERNAME_LOG_LIMIT`] characters, then `…`. A name with a
/// newline or an ANSI escape sequence cannot forge or recolour a log line.
#[derive(Debug, Clone, Copy)]
pub struct LoggedName<'a>(pub &'a str);

impl std::fmt::Display for LoggedName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_escaped(f, self.0, USERNAME_LOG_LIMIT)
    }
}

/// The longest part of a request path written to the log, in characters.
pub const PATH_LOG_LIMIT: usize = 128;

/// A request path as the log may show it, escaped and truncated as [`LoggedName`] is (at most
/// [`PATH_LOG_LIMIT`] characters): a path may carry raw C1 controls (U+009B is a one-character
/// CSI), U+0085 or U+2028, which the HTTP parsers let through as UTF-8.
#[derive(Debug, Clone, Copy)]
pub struct LoggedPath<'a>(pub &'a str);

impl std::fmt::Display for LoggedPath<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_escaped(f, self.0, PATH_LOG_LIMIT)
    }
}

/// `text` with every character `char::escape_debug` escapes escaped, cut after `limit`
/// characters with `…`.
fn write_escaped(f: &mut std::fmt::Formatter<'_>, text: &str, limit: usize) -> std::fmt::Result {
    use std::fmt::Write;
    let mut chars = text.chars();
    for c in chars.by_ref().take(limit) {
        for escaped in c.escape_debug() {
            f.write_char(escaped)?;
        }
    }
    if chars.next().is_some() {
        f.write_char('…')?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn names_are_logged_escaped_and_truncated() {
        let forged = "evil\n2026-01-01T00:00:00Z  INFO forged line \u{1b}[31mred\"";
        let logged = LoggedName(forged).to_string();
        assert!(
            !logged.contains('\n') && !logged.contains('\u{1b}'),
            "{logged}"
        );
        assert!(logged.starts_with(r"evil\n2026"), "{logged}");
        assert!(logged.contains(r#"\u{1b}[31mred\""#), "{logged}");
        let long = "x".repeat(1000);
        assert_eq!(
            LoggedName(&long).to_string(),
            format!("{}…", "x".repeat(USERNAME_LOG_LIMIT))
        );
        assert_eq!(LoggedName("user1").to_string(), "user1");
    }

    #[test]
    fn paths_are_logged_escaped_and_truncated() {
        let path = "/a\u{9b}31mred\u{85}b\u{2028}c\nd";
        let logged = LoggedPath(path).to_string();
        for raw in ['\u{9b}', '\u{85}', '\u{2028}', '\n'] {
            assert!(!logged.contains(raw), "{raw:?} in {logged:?}");
        }
        assert_eq!(logged, r"/a\u{9b}31mred\u{85}b\u{2028}c\nd");
        let long = format!("/{}", "p".repeat(1000));
        let logged = LoggedPath(&long).to_string();
        assert_eq!(logged.chars().count(), PATH_LOG_LIMIT + 1, "{logged}");
        assert!(logged.ends_with('…'));
        assert_eq!(LoggedPath("/api/dashboard").to_string(), "/api/dashboard");
    }
}
