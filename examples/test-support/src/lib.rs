//! What the tests of the example programs share, so that each example's own test target is a
//! few lines and no test file is `include!`d:
//!
//! - [`Running`]: a built example binary started on a free port (`PORT=0`) with only the
//!   settings a test gives it, its log read as it comes, killed when dropped; [`Answer`], a
//!   response read off the socket; [`command`], the program with a clean environment;
//! - [`seed_flow`]: the original app's flow against a running example — login refused and
//!   accepted, the guarded dashboard, refresh, logout, refresh after logout refused;
//! - [`dashboard`]: the tests of the two dashboard binaries, run by each package's
//!   `tests/binary.rs` with [`dashboard_binary_tests!`], and [`introspection`]'s among them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub mod dashboard;
pub mod introspection;

/// The JWT secret the tests start the examples with.
pub const SECRET: &str = "an example secret of at least 32 bytes";

/// The settings of the example programs (docs/protocol.md §6), cleared from a test's
/// environment so that only those a test passes reach the program: the dashboards' settings
/// table itself ([`dashboard_shared::variables::names`]), so that no variable is left out.
pub fn settings() -> Vec<String> {
    dashboard_shared::variables::names()
}

/// The program `bin` with the settings `vars` only (every other setting of the examples
/// removed from its environment; `RUST_LOG=warn` unless given), stdout and stderr piped.
pub fn command(bin: &str, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin);
    for var in settings() {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The exit status of `child`, the program `bin`, which must exit within 10 s.
pub fn wait(bin: &str, child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{bin} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `bin` on a free port with `JWT_SECRET` set and its log at `warn`; returns it and the
/// address from its `listening on` line.
pub fn start_plain(bin: &str) -> (Child, String) {
    let mut child = command(bin, &[("PORT", "0"), ("JWT_SECRET", SECRET)])
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .strip_prefix("listening on http://127.0.0.1:")
        .and_then(|port| port.trim_end().parse::<u16>().ok())
        .map(|port| format!("127.0.0.1:{port}"));
    match addr {
        Some(addr) => (child, addr),
        None => {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
            panic!("expected `listening on http://127.0.0.1:PORT`, got {line:?}; stderr: {stderr}");
        }
    }
}

/// `GET /` on `addr`, the whole answer as text.
pub fn get_root(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[cfg(unix)]
/// Sends `child` the signal `name` (`TERM`, `INT`).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A server started by a test: its address, and its stderr (the log) read as it comes.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// `127.0.0.1:PORT`, from its `listening on` line.
    pub addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Running {
    /// Starts `bin` on a free port (`PORT=0`) with `JWT_SECRET` and `RUST_LOG=info`, then
    /// `vars`, and waits for its `listening on` line.
    pub fn start(bin: &str, vars: &[(&str, &str)]) -> Self {
        let mut all = vec![("PORT", "0"), ("JWT_SECRET", SECRET), ("RUST_LOG", "info")];
        all.extend_from_slice(vars);
        Self::spawn(bin, command(bin, &all))
    }

    /// Spawns `cmd` (the program `bin`, made by [`command`], its `PORT` set) and waits for
    /// its `listening on` line.
    pub fn spawn(bin: &str, mut cmd: Command) -> Self {
        let mut child = cmd.spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = std::sync::Arc::clone(&log);
        // Drained all along, so a busy log never blocks the server on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(port) = line
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|port| port.trim_end().parse::<u16>().ok())
        else {
            let _ = child.kill();
            panic!("{bin}: expected `listening on http://127.0.0.1:PORT`, got {line:?}");
        };
        Self {
            child,
            addr: format!("127.0.0.1:{port}"),
            log,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The log once it contains `text` (within 5 s).
    pub fn log_with(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log();
            if log.contains(text) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one request (`Connection: close`) and reads the whole answer.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        // A server that refuses a body early may reset the connection after its answer:
        // keep what was read.
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        Answer::parse(&String::from_utf8_lossy(&response))
    }

    /// `POST /login` with the JSON credentials.
    pub fn login(&self, username: &str, password: &str) -> Answer {
        let body = format!(
            r#"{{"username":{},"password":{}}}"#,
            json_string(username),
            json_string(password)
        );
        self.send(
            "POST",
            "/login",
            &[("Content-Type", "application/json")],
            &body,
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JSON string literal of `s`.
pub fn json_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An HTTP answer as read off the socket.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Answer {
    /// Parses a whole `Connection: close` answer.
    pub fn parse(response: &str) -> Self {
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Self {
            status,
            headers,
            body: body.to_owned(),
        }
    }

    /// The first value of the header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A test key of the library crate (tower-refresh-auth/tests/keys/README.md).
pub fn test_key(name: &str) -> String {
    format!(
        "{}/../../tower-refresh-auth/tests/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The value of the JSON string field `name` in `answer`'s body.
fn field(answer: &Answer, name: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&answer.body)
        .unwrap_or_else(|err| panic!("not JSON ({err}): {answer:?}"));
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("no string {name:?} in {answer:?}"))
        .to_owned()
}

/// The seed's flow against `server`, whose demo user is `user1`/`password1`: a wrong
/// password and an unknown user are one `401 invalid_credentials`; the right password gets
/// the pair (camelCase JSON); `GET /api/dashboard` is refused without it and answers
/// `{"message": …}` naming the user with it; `POST /token` rotates the pair; `POST /logout`
/// ends the session, and its refresh token is refused after.
pub fn seed_flow(server: &Running) {
    let json = [("Content-Type", "application/json")];
    let wrong = server.login("user1", "wrong");
    let unknown = server.login("mallory", "password1");
    for refused in [&wrong, &unknown] {
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_eq!(
            refused.header("cache-control"),
            Some("no-store"),
            "{refused:?}"
        );
        assert!(refused.header("www-authenticate").is_none(), "{refused:?}");
        assert_eq!(field(refused, "error"), "invalid_credentials");
        assert!(!field(refused, "error_description").is_empty());
    }
    assert_eq!(wrong.body, unknown.body, "an oracle for which names exist");

    let login = server.login("user1", "password1");
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let refresh = field(&login, "refreshToken");
    let dashboard = |access: &str| {
        let bearer = format!("Bearer {access}");
        server.send("GET", "/api/dashboard", &[("Authorization", &bearer)], "")
    };
    let anonymous = server.send("GET", "/api/dashboard", &[], "");
    assert_eq!(anonymous.status, 401, "{anonymous:?}");
    let welcome = dashboard(&field(&login, "accessToken"));
    assert_eq!(welcome.status, 200, "{welcome:?}");
    let message = field(&welcome, "message");
    assert!(message.contains("user1"), "{message}");

    let body = |token: &str| format!(r#"{{"refreshToken":{}}}"#, json_string(token));
    let renewed = server.send("POST", "/token", &json, &body(&refresh));
    assert_eq!(renewed.status, 200, "{renewed:?}");
    let next = field(&renewed, "refreshToken");
    assert_ne!(next, refresh);
    assert_eq!(dashboard(&field(&renewed, "accessToken")).status, 200);

    let logout = server.send("POST", "/logout", &json, &body(&next));
    assert_eq!(logout.status, 204, "{logout:?}");
    let dead = server.send("POST", "/token", &json, &body(&next));
    assert_eq!(dead.status, 400, "{dead:?}");
    assert_eq!(field(&dead, "error"), "invalid_grant");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variable of the settings table is removed from (or set in) a test's server
    /// environment, the newest included: a list of its own could lack one.
    #[test]
    fn a_test_server_sees_no_setting_it_was_not_given() {
        let cmd = command("dashboard", &[("PORT", "0")]);
        let envs: std::collections::BTreeMap<String, Option<String>> = cmd
            .get_envs()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        let names = dashboard_shared::variables::names();
        // `variables::tests` holds the table to its source and to docs/protocol.md §6.
        assert!(!names.is_empty());
        for name in &names {
            let expected = match name.as_str() {
                "PORT" => Some("0".to_owned()),
                "RUST_LOG" => Some("warn".to_owned()),
                _ => None,
            };
            assert_eq!(envs.get(name), Some(&expected), "{name}");
        }
        // Nothing else is set but what the test gave.
        assert_eq!(envs.len(), names.len(), "{envs:?}");
    }
}
