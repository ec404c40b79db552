// The tests of a built example binary, shared by `axum-dashboard` and `poem-dashboard`:
// each includes this file from its `tests/binary.rs` after defining `BIN`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "an example secret of at least 32 bytes";

fn server(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    for var in [
        "HOST",
        "PORT",
        "JWT_SECRET",
        "ACCESS_TOKEN_TTL",
        "REFRESH_TOKEN_TTL",
        "REFRESH_REUSE_GRACE",
        "STORE_URL",
        "REFRESH_TRANSPORT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn wait(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{BIN} did not exit within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts the server on a free port; returns it and the address from its `listening on` line.
fn start() -> (Child, String) {
    let mut child = server(&[("PORT", "0"), ("JWT_SECRET", SECRET)]).spawn().unwrap();
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

fn get_root(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[cfg(unix)]
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn serves_and_stops_cleanly_on_sigterm_and_sigint() {
    for name in ["TERM", "INT"] {
        let (mut child, addr) = start();
        let response = get_root(&addr);
        assert!(response.starts_with("HTTP/1.1 303"), "{response}");
        assert!(response.to_ascii_lowercase().contains("location: /login.html"));
        signal(&child, name);
        let status = wait(&mut child);
        assert!(status.success(), "SIG{name}: {status}");
    }
}

#[test]
fn bad_settings_stop_it_at_start_with_a_clear_message() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("JWT_SECRET", "short")], "JWT_SECRET is 5 bytes"),
        (&[("ACCESS_TOKEN_TTL", "soon")], "ACCESS_TOKEN_TTL=\"soon\""),
        (&[("REFRESH_TOKEN_TTL", "1s")], "reuse grace window"),
        (&[("REFRESH_TRANSPORT", "pigeon")], "REFRESH_TRANSPORT"),
        (&[("STORE_URL", "redis://127.0.0.1:9")], "session store is unreachable"),
        (&[("STORE_URL", "mysql://db/app")], "is not a store URL"),
        (&[("PORT", "http")], "PORT=\"http\""),
    ];
    for (vars, expected) in cases {
        let output = server(vars).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{vars:?} was accepted");
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{vars:?} printed to stdout");
    }
}
