//! The dashboards' settings table: every setting once, with its variable, its flag, its
//! default and its one-line help. [`Settings`](crate::Settings) is read from it, `--help`
//! prints it, and a test holds docs/protocol.md §6's table to it.
//!
//! Values are kept as given: [`Settings`](crate::Settings) turns them into typed values, so
//! that a bad one stops the server with a message naming its variable. [`names`] lists the
//! variables, for whatever must know them all (the example tests clear them from a server's
//! environment).

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::SettingsError;

/// The settings as given, each from `--flag` or else its variable, else its default.
#[derive(Clone, Parser)]
#[command(
    about = "The refresh-token dashboard demo: every setting is read from its variable, or \
             given as a flag (docs/protocol.md §6).",
    disable_version_flag = true
)]
pub(crate) struct Variables {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Port to bind (`0`: any free port).
    #[arg(long, env = "PORT", default_value = "3000")]
    pub(crate) port: String,
    /// HS256 secret, at least 32 bytes. Unset: random per start, with a warning.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub(crate) jwt_secret: Option<String>,
    /// A private key file (ES256, ES384, EdDSA or RS256) that signs instead of JWT_SECRET.
    #[arg(long, env = "JWT_PRIVATE_KEY_FILE")]
    pub(crate) jwt_private_key_file: Option<String>,
    /// The refresh-token MAC key, at least 32 bytes. Unset: derived from JWT_SECRET.
    #[arg(long, env = "REFRESH_TOKEN_SECRET", hide_env_values = true)]
    pub(crate) refresh_token_secret: Option<String>,
    /// Access-token lifetime (`2s`, `1m`, `7d`, …).
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "1m")]
    pub(crate) access_token_ttl: String,
    /// Refresh-token lifetime.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "7d")]
    pub(crate) refresh_token_ttl: String,
    /// How long a spent refresh token still gets its successor.
    #[arg(long, env = "REFRESH_REUSE_GRACE", default_value = "10s")]
    pub(crate) refresh_reuse_grace: String,
    /// Absolute session lifetime (`12h`, `30d`), however often it is refreshed.
    #[arg(long, env = "SESSION_LIFETIME")]
    pub(crate) session_lifetime: Option<String>,
    /// How recent the last authentication must be for `POST /api/sensitive`.
    #[arg(long, env = "STEP_UP_MAX_AGE", default_value = "5m")]
    pub(crate) step_up_max_age: String,
    /// The most live sessions one user keeps (1 to 10 000).
    #[arg(long, env = "MAX_SESSIONS_PER_USER", default_value = "100")]
    pub(crate) max_sessions_per_user: String,
    /// `false`, `true` (a store read per request) or `feed` (the store's revocation feed).
    #[arg(long, env = "CHECK_SESSIONS", default_value = "false")]
    pub(crate) check_sessions: String,
    /// `memory://`, `redis://…`, `redis+cluster://…`, `postgres://…`, `sqlite://…`.
    #[arg(long, env = "STORE_URL", default_value = "memory://")]
    pub(crate) store_url: String,
    /// `body` or `cookie`.
    #[arg(long, env = "REFRESH_TRANSPORT", default_value = "body")]
    pub(crate) refresh_transport: String,
    /// Entries of the verified-token cache; `0` turns it off.
    #[arg(long, env = "VERIFIED_TOKEN_CACHE", default_value = "0")]
    pub(crate) verified_token_cache: String,
    /// `off`, `optional` or `required`.
    #[arg(long, env = "DPOP", default_value = "off")]
    pub(crate) dpop: String,
    /// The URL clients reach the server at, which DPoP proofs' `htu` must name.
    #[arg(long, env = "PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// Where Prometheus text is served at `GET /metrics` (`127.0.0.1:9100`).
    #[arg(long, env = "METRICS_ADDR")]
    pub(crate) metrics_addr: Option<String>,
    /// `ID:SECRET` of the one client allowed to call `POST /introspect`.
    #[arg(long, env = "INTROSPECTION_CLIENT", hide_env_values = true)]
    pub(crate) introspection_client: Option<String>,
    /// Signing-key lifetime (`30d`): the keys come from the key ring in STORE_URL.
    #[arg(long, env = "KEY_ROTATION")]
    pub(crate) key_rotation: Option<String>,
    /// `ES256` or `EdDSA`: the algorithm of the keys the ring makes.
    #[arg(long, env = "SIGNING_ALG", default_value = "ES256")]
    pub(crate) signing_alg: String,
    /// 32 random bytes, base64url, that seal the key ring.
    #[arg(long, env = "KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub(crate) key_encryption_key: Option<String>,
    /// A file holding KEY_ENCRYPTION_KEY.
    #[arg(long, env = "KEY_ENCRYPTION_KEY_FILE")]
    pub(crate) key_encryption_key_file: Option<String>,
    /// The key-encryption key being rotated out.
    #[arg(long, env = "PREVIOUS_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub(crate) previous_key_encryption_key: Option<String>,
    /// A directory of private-key files (`current*.pem`, `next*.pem`, `retired*.pem`).
    #[arg(long, env = "KEY_DIR")]
    pub(crate) key_dir: Option<String>,
    /// The log filter.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub(crate) rust_log: String,
}

/// The settings' variables, in the table's order (`HOST`, `PORT`, `JWT_SECRET`, …).
pub fn names() -> Vec<String> {
    Variables::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

impl Variables {
    /// The settings from the command line and the process environment. `--help` prints the
    /// table and exits; a flag that is not in it stops the process (clap's message).
    pub(crate) fn from_env() -> Self {
        Self::parse()
    }

    /// The settings from `var`, a lookup by variable name, alone: neither the command line
    /// nor the process environment is read.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Result<Self, SettingsError> {
        let mut args = vec![OsString::from("dashboard")];
        let command = Self::command();
        for arg in command.get_arguments() {
            let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else {
                continue;
            };
            let name = name.to_string_lossy();
            if let Some(value) = var(&name) {
                let value = value
                    .into_string()
                    .map_err(|_| SettingsError::NotUnicode(name.clone().into_owned()))?;
                args.push(OsString::from(format!("--{long}={value}")));
            }
        }
        let matches = command
            .mut_args(|arg| arg.env(None))
            .try_get_matches_from(args)
            .and_then(|matches| Self::from_arg_matches(&matches))
            .map_err(|err| SettingsError::Table(err.to_string()))?;
        Ok(matches)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use super::*;

    /// The rows of the table in the section of `doc` that begins `\n## {heading}`, as
    /// cells: those whose first cell names a variable (`` | `NAME` | … ``).
    fn rows<'a>(doc: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
        let section = doc
            .split(&format!("\n## {heading}"))
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap_or_else(|| panic!("no section {heading:?}"));
        section
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                line.trim_start_matches("| ")
                    .split(" | ")
                    .map(str::trim)
                    .collect()
            })
            .collect()
    }

    /// docs/protocol.md §6's table: each variable and its default cell.
    fn documented() -> BTreeMap<String, String> {
        rows(include_str!("../../../docs/protocol.md"), "§6 ")
            .into_iter()
            .map(|cells| (cells[0].trim_matches('`').to_owned(), cells[1].to_owned()))
            .collect()
    }

    /// The table's variables, each with its default as the docs write it: `` `value` ``,
    /// or the docs' own words where there is none.
    #[test]
    fn the_protocol_document_lists_every_setting_with_its_default() {
        let documented = documented();
        let command = Variables::command();
        let mut table = BTreeMap::new();
        for arg in command.get_arguments() {
            let Some(name) = arg.get_env() else { continue };
            let name = name.to_string_lossy().into_owned();
            // The flag is the variable's name: `--store-url` for `STORE_URL`.
            assert_eq!(
                arg.get_long(),
                Some(&*name.to_ascii_lowercase().replace('_', "-")),
                "{name}"
            );
            table.insert(
                name,
                arg.get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned()),
            );
        }
        assert_eq!(
            documented.keys().collect::<Vec<_>>(),
            table.keys().collect::<Vec<_>>(),
            "docs/protocol.md §6 and the settings table (examples/dashboard-shared/src/variables.rs) \
             list different variables"
        );
        for (name, default) in &table {
            let cell = &documented[name];
            match default {
                Some(value) => assert_eq!(cell, &format!("`{value}`"), "{name}'s default"),
                // No default: the docs say what happens instead, in words.
                None => assert!(
                    !cell.starts_with('`'),
                    "{name}: the docs give {cell}, the table none"
                ),
            }
        }
    }

    /// The guide's short list of the settings (docs/guide, "The example servers"): each row
    /// one or more variables in backquotes, then what they do, with `` default `value` ``
    /// where it gives one. It names every variable of the table, and only those, and each
    /// default it gives is the table's.
    #[test]
    fn the_guide_summarises_every_setting() {
        let guide = include_str!("../../../docs/guide/src/getting-started/example-servers.md");
        let defaults: BTreeMap<String, Option<String>> = Variables::command()
            .get_arguments()
            .filter_map(|arg| {
                let name = arg.get_env()?.to_string_lossy().into_owned();
                let default = arg
                    .get_default_values()
                    .first()
                    .map(|d| d.to_string_lossy().into_owned());
                Some((name, default))
            })
            .collect();
        let mut summarised = Vec::new();
        for cells in rows(guide, "Settings\n") {
            let names: Vec<String> = cells[0]
                .split(", ")
                .map(|name| name.trim_matches('`').to_owned())
                .collect();
            let what = cells[1];
            if let [name] = &names[..]
                && let Some(given) = what
                    .split("default `")
                    .nth(1)
                    .and_then(|rest| rest.split('`').next())
            {
                assert_eq!(
                    defaults.get(name),
                    Some(&Some(given.to_owned())),
                    "the guide gives {name} the default `{given}`"
                );
            }
            summarised.extend(names);
        }
        summarised.sort();
        assert_eq!(
            summarised,
            defaults.keys().cloned().collect::<Vec<_>>(),
            "the guide's settings (docs/guide/src/getting-started/example-servers.md) and the \
             settings table (examples/dashboard-shared/src/variables.rs) list different variables"
        );
    }

    /// [`names`] is every variable the table's source declares, in its order.
    #[test]
    fn names_are_every_variable_of_the_table() {
        let source = include_str!("variables.rs");
        let declared: Vec<&str> = source
            .split("env = \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(names(), declared);
    }

    #[test]
    fn the_defaults_are_the_librarys() {
        let settings = crate::Settings::from_vars(|_| None).unwrap();
        assert_eq!(
            settings.max_sessions_per_user,
            tower_refresh_auth::session::DEFAULT_MAX_SESSIONS_PER_SUBJECT
        );
    }

    #[test]
    fn help_lists_every_variable() {
        let help = Variables::command().render_long_help().to_string();
        for arg in Variables::command().get_arguments() {
            if let Some(name) = arg.get_env() {
                assert!(
                    help.contains(&format!("env: {}", name.to_string_lossy())),
                    "{help}"
                );
            }
        }
    }
}
