//! Runs the whole peers comparison with one command and draws it:
//!
//! ```text
//! loadtest/peers/run.sh            # builds, then runs this driver
//! ```
//!
//! For each algorithm (HS256, ES256, EdDSA) it mints one access token with our layer, then, for
//! `ROUNDS` rounds (each in another order, so no system always runs first or last), starts
//! each system's server alone on 127.0.0.1, warms it up for a second, loads
//! `GET /api/dashboard` with wrk for `DURATION` and reads the server's peak resident set
//! (`VmHWM`) and CPU time from `/proc`. Then `POST /token` for the one system that has a
//! refresh route (ours), every connection rotating its own session. It prints the tables
//! (medians over the rounds; each system as a ratio to `none` in the same round) and writes
//! `results.json`, `peers-throughput.svg` and `peers-rss.svg` to `OUT`.
//!
//! Settings (environment): `DURATION` (wrk's `-d`, default `5s`), `ROUNDS` (default 2),
//! `CONNECTIONS` (default 32, one wrk thread), `PIN` (default 1: the server on CPU 1 and wrk
//! on CPU 0 with `taskset`; 0: both anywhere), `OUT` (default `docs/benchmarks`), `REPO` (the
//! repository root, for `loadtest/refresh.lua`; default: found from this binary's path).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use plotters::prelude::*;

/// The systems, in their report order: (name, binary, first argument, chart label).
const SYSTEMS: &[(&str, &str, Option<&str>, &str)] = &[
    ("none", "server", Some("none"), "none"),
    (
        "ours, cache off",
        "server",
        Some("ours-cache-off"),
        "ours off",
    ),
    ("ours, cache on", "server", Some("ours-cache-on"), "ours on"),
    (
        "ours, cache on, SharedClaims",
        "server",
        Some("ours-cache-on-shared"),
        "ours on, Arc",
    ),
    (
        "resource server, cache off",
        "server",
        Some("resource-cache-off"),
        "resource off",
    ),
    (
        "resource server, cache on",
        "server",
        Some("resource-cache-on"),
        "resource on",
    ),
    (
        "jwt-authorizer 0.15",
        "server-jwt-authorizer",
        None,
        "jwt-authz",
    ),
    (
        "axum-jwt-auth 0.7",
        "server",
        Some("axum-jwt-auth"),
        "axum-jwt-auth",
    ),
    (
        "tower-http + jsonwebtoken",
        "server",
        Some("tower-http"),
        "tower-http",
    ),
];
const ALGS: &[&str] = &["HS256", "ES256", "EdDSA"];

/// Whether system `i` runs with `alg`: a resource server verifies with published keys, which
/// an HMAC secret is not; the `SharedClaims` variant runs where the cache hit is cheapest to
/// tell apart (HS256), to keep the run short.
fn applies(i: usize, alg: &str) -> bool {
    match SYSTEMS[i].2 {
        Some("resource-cache-off" | "resource-cache-on") => alg != "HS256",
        Some("ours-cache-on-shared") => alg == "HS256",
        _ => true,
    }
}
const REFRESH_CONNECTIONS: usize = 8;

type Error = Box<dyn std::error::Error>;

/// One wrk run against one server.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: f64,
    /// The server's CPU time during the measured run, per request, in µs.
    cpu_us_per_request: f64,
    /// The server's peak resident set, KiB.
    hwm_kib: u64,
}

struct Settings {
    duration: String,
    seconds: f64,
    rounds: usize,
    connections: usize,
    pin: bool,
    out: PathBuf,
    repo: PathBuf,
    bin_dir: PathBuf,
}

fn main() -> Result<(), Error> {
    let s = settings()?;
    let mut hs: BTreeMap<(&str, &str), Vec<Run>> = BTreeMap::new();
    let mut ratios: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    let mut refresh: BTreeMap<&str, Vec<Run>> = BTreeMap::new();
    let work = std::env::temp_dir().join(format!("peers-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    eprintln!(
        "{} rounds × {} algorithms × up to {} systems, {} each, {} connections, pinned: {}",
        s.rounds,
        ALGS.len(),
        SYSTEMS.len(),
        s.duration,
        s.connections,
        s.pin
    );
    for &alg in ALGS {
        let token = mint(&s, alg)?;
        for round in 0..s.rounds {
            let mut order: Vec<usize> = (0..SYSTEMS.len()).filter(|&i| applies(i, alg)).collect();
            let n = order.len();
            order.rotate_left(round % n);
            if round % 2 == 1 {
                order.reverse();
            }
            let mut this_round = BTreeMap::new();
            for i in order {
                let (name, bin, arg, _) = SYSTEMS[i];
                let run = dashboard_run(&s, bin, arg, alg, &token)?;
                eprintln!("  {alg} round {} {name}: {run:?}", round + 1);
                this_round.insert(name, run.rps);
                hs.entry((alg, name)).or_default().push(run);
            }
            let none = this_round["none"];
            for (name, rps) in this_round {
                ratios.entry((alg, name)).or_default().push(rps / none);
            }
            let run = refresh_run(&s, alg, &work)?;
            eprintln!("  {alg} round {} refresh: {run:?}", round + 1);
            refresh.entry(alg).or_default().push(run);
        }
    }
    let _ = std::fs::remove_dir_all(&work);

    let summary = summarize(&hs, &ratios);
    print_tables(&s, &summary, &refresh);
    std::fs::create_dir_all(&s.out)?;
    write_json(&s, &summary, &refresh)?;
    draw(&s, &summary)?;
    Ok(())
}

fn settings() -> Result<Settings, Error> {
    let exe = std::env::current_exe()?;
    let bin_dir = exe
        .parent()
        .ok_or("the driver has no directory")?
        .to_path_buf();
    let repo = match std::env::var_os("REPO") {
        Some(r) => PathBuf::from(r),
        None => std::env::current_dir()?,
    };
    if !repo.join("loadtest/refresh.lua").is_file() {
        return Err(
            "run from the repository root (or set REPO): loadtest/refresh.lua not found".into(),
        );
    }
    let duration = std::env::var("DURATION").unwrap_or_else(|_| "5s".into());
    let seconds = duration
        .strip_suffix('s')
        .and_then(|d| d.parse::<f64>().ok())
        .ok_or("DURATION is whole seconds, like 5s")?;
    let var = |k: &str, d: usize| -> Result<usize, Error> {
        Ok(match std::env::var(k) {
            Ok(v) => v.parse()?,
            Err(_) => d,
        })
    };
    Ok(Settings {
        duration,
        seconds,
        rounds: var("ROUNDS", 2)?,
        connections: var("CONNECTIONS", 32)?,
        pin: var("PIN", 1)? == 1,
        out: repo.join(std::env::var("OUT").unwrap_or_else(|_| "docs/benchmarks".into())),
        repo,
        bin_dir,
    })
}

/// One access token for `alg`, signed by our layer; every system verifies this one.
fn mint(s: &Settings, alg: &str) -> Result<String, Error> {
    let out = Command::new(s.bin_dir.join("server"))
        .args(["mint", alg])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "server mint {alg}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// A running server; killed and reaped on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(s: &Settings, bin: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Self, Error> {
        let path = s.bin_dir.join(bin);
        let mut cmd = if s.pin {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .envs(env.iter().copied())
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("{bin} {args:?} did not start: {line:?}"))?
            .to_owned();
        Ok(Self { child, base })
    }

    /// `(VmHWM KiB, utime + stime in clock ticks)` from /proc.
    fn stats(&self) -> Result<(u64, u64), Error> {
        // With `taskset`, the server is taskset's exec'd image: the same pid.
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or("no VmHWM")?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces): utime is the 12th, stime 13th.
        let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
        Ok((hwm, ticks))
    }
}

fn wrk(s: &Settings, args: &[String]) -> Result<String, Error> {
    let mut cmd = if s.pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = cmd.args(args).output()?;
    if !out.status.success() {
        return Err(format!("wrk: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn dashboard_run(
    s: &Settings,
    bin: &str,
    arg: Option<&str>,
    alg: &str,
    token: &str,
) -> Result<Run, Error> {
    let args: Vec<&str> = arg.into_iter().chain([alg]).collect();
    let server = Server::start(s, bin, &args, &[])?;
    let url = format!("{}/api/dashboard", server.base);
    let bearer = format!("Authorization: Bearer {token}");
    let common = |d: &str| -> Vec<String> {
        vec![
            "--latency".into(),
            "-t1".into(),
            format!("-c{}", s.connections),
            format!("-d{d}"),
            "-H".into(),
            bearer.clone(),
            url.clone(),
        ]
    };
    wrk(s, &common("1s"))?; // warm-up: connections, allocator, cache
    let (_, before) = server.stats()?;
    let text = wrk(s, &common(&s.duration))?;
    let (hwm, after) = server.stats()?;
    let mut run = parse_wrk(&text, s.seconds)?;
    run.hwm_kib = hwm;
    run.cpu_us_per_request = cpu_us(after - before) / run.requests;
    if run.non_2xx > 0 {
        return Err(format!("{bin} {args:?}: {} non-2xx answers", run.non_2xx).into());
    }
    Ok(run)
}

fn refresh_run(s: &Settings, alg: &str, work: &Path) -> Result<Run, Error> {
    let tokens = work.join(format!("tokens-{alg}"));
    let n = REFRESH_CONNECTIONS.to_string();
    let out = tokens.display().to_string();
    let server = Server::start(
        s,
        "server",
        &["ours-cache-off", alg],
        &[("REFRESH_SESSIONS", &n), ("REFRESH_TOKENS_OUT", &out)],
    )?;
    let script = s.repo.join("loadtest/refresh.lua").display().to_string();
    let (_, before) = server.stats()?;
    let cmd_args = vec![
        "--latency".to_string(),
        format!("-t{REFRESH_CONNECTIONS}"),
        format!("-c{REFRESH_CONNECTIONS}"),
        format!("-d{}", s.duration),
        "-s".into(),
        script,
        format!("{}/token", server.base),
    ];
    // refresh.lua reads the tokens from $TOKENS.
    let text = wrk_with_env(s, &cmd_args, &[("TOKENS", &out)])?;
    let (hwm, after) = server.stats()?;
    let mut run = parse_wrk(&text, s.seconds)?;
    run.hwm_kib = hwm;
    run.cpu_us_per_request = cpu_us(after - before) / run.requests;
    Ok(run)
}

fn wrk_with_env(s: &Settings, args: &[String], env: &[(&str, &str)]) -> Result<String, Error> {
    let mut cmd = if s.pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", "wrk"]);
        c
    } else {
        Command::new("wrk")
    };
    let out = cmd.args(args).envs(env.iter().copied()).output()?;
    if !out.status.success() {
        return Err(format!("wrk: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let text = String::from_utf8(out.stdout)?;
    if let Some(bad) = text
        .lines()
        .find_map(|l| l.strip_prefix("non-2xx or unparsable responses: "))
        && bad.trim() != "0"
    {
        return Err(format!("refresh: {bad} unexpected answers").into());
    }
    Ok(text)
}

fn cpu_us(ticks: u64) -> f64 {
    // USER_HZ is 100 on Linux.
    ticks as f64 * 10_000.0
}

fn parse_wrk(text: &str, seconds: f64) -> Result<Run, Error> {
    let mut run = Run::default();
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            run.rps = v.trim().parse()?;
        } else if let Some(v) = t.strip_prefix("50%") {
            run.p50_ms = millis(v.trim())?;
        } else if let Some(v) = t.strip_prefix("99%") {
            run.p99_ms = millis(v.trim())?;
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            run.non_2xx = v.trim().parse()?;
        }
    }
    if run.rps == 0.0 {
        return Err(format!("no Requests/sec in wrk's output:\n{text}").into());
    }
    run.requests = run.rps * seconds;
    Ok(run)
}

fn millis(v: &str) -> Result<f64, Error> {
    let (num, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return Err(format!("latency {v:?}").into());
    };
    Ok(num.parse::<f64>()? * factor)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians over the rounds, per algorithm and system.
struct Row {
    alg: &'static str,
    system: &'static str,
    label: &'static str,
    rps: f64,
    ratio: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    /// `none`'s server CPU per request over this one's: the throughput ratio a server that
    /// had its cores to itself would see.
    cpu_ratio: f64,
    hwm_kib: u64,
}

fn summarize(
    runs: &BTreeMap<(&'static str, &'static str), Vec<Run>>,
    ratios: &BTreeMap<(&'static str, &'static str), Vec<f64>>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for &alg in ALGS {
        let none_cpu = median(
            runs[&(alg, "none")]
                .iter()
                .map(|r| r.cpu_us_per_request)
                .collect(),
        );
        for (i, &(system, _, _, label)) in SYSTEMS.iter().enumerate() {
            if !applies(i, alg) {
                continue;
            }
            let r = &runs[&(alg, system)];
            let m = |f: fn(&Run) -> f64| median(r.iter().map(f).collect());
            rows.push(Row {
                alg,
                system,
                label,
                rps: m(|r| r.rps),
                ratio: median(ratios[&(alg, system)].clone()),
                p50_ms: m(|r| r.p50_ms),
                p99_ms: m(|r| r.p99_ms),
                cpu_us: m(|r| r.cpu_us_per_request),
                cpu_ratio: none_cpu / m(|r| r.cpu_us_per_request),
                hwm_kib: r.iter().map(|r| r.hwm_kib).max().unwrap_or(0),
            });
        }
    }
    rows
}

fn print_tables(s: &Settings, rows: &[Row], refresh: &BTreeMap<&str, Vec<Run>>) {
    println!(
        "GET /api/dashboard, wrk -t1 -c{} -d{}, {} rounds, medians; pinned: {}\n",
        s.connections, s.duration, s.rounds, s.pin
    );
    println!(
        "| alg | system | requests/s | ÷ none | p50 ms | p99 ms | server CPU µs/request | CPU: none ÷ this | peak RSS (VmHWM) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.3} | {:.3} | {:.1} | {:.2} | {:.1} MiB |",
            r.alg,
            r.system,
            r.rps,
            r.ratio,
            r.p50_ms,
            r.p99_ms,
            r.cpu_us,
            r.cpu_ratio,
            r.hwm_kib as f64 / 1024.0
        );
    }
    println!(
        "\nPOST /token (ours; no peer has a refresh route), wrk -t{n} -c{n}, each connection rotating its own session\n",
        n = REFRESH_CONNECTIONS
    );
    println!("| alg | refreshes/s | p50 ms | p99 ms | server CPU µs/refresh | peak RSS (VmHWM) |");
    println!("|---|---|---|---|---|---|");
    for (alg, runs) in refresh {
        let m = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        println!(
            "| {alg} | {:.0} | {:.3} | {:.3} | {:.1} | {:.1} MiB |",
            m(|r| r.rps),
            m(|r| r.p50_ms),
            m(|r| r.p99_ms),
            m(|r| r.cpu_us_per_request),
            runs.iter().map(|r| r.hwm_kib).max().unwrap_or(0) as f64 / 1024.0
        );
    }
}

fn write_json(s: &Settings, rows: &[Row], refresh: &BTreeMap<&str, Vec<Run>>) -> Result<(), Error> {
    let dashboard: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "alg": r.alg, "system": r.system, "requests_per_s": r.rps, "ratio_to_none": r.ratio,
                "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "server_cpu_us_per_request": r.cpu_us,
                "cpu_ratio_none_over_this": r.cpu_ratio,
                "peak_rss_kib": r.hwm_kib,
            })
        })
        .collect();
    let refresh: Vec<_> = refresh
        .iter()
        .flat_map(|(alg, runs)| {
            runs.iter().map(move |r| {
                serde_json::json!({
                    "alg": alg, "refreshes_per_s": r.rps, "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
                    "server_cpu_us_per_refresh": r.cpu_us_per_request, "peak_rss_kib": r.hwm_kib,
                })
            })
        })
        .collect();
    let doc = serde_json::json!({
        "duration": s.duration, "rounds": s.rounds, "connections": s.connections, "pinned": s.pin,
        "dashboard": dashboard, "refresh": refresh,
    });
    std::fs::write(
        s.out.join("peers-results.json"),
        serde_json::to_string_pretty(&doc)? + "\n",
    )?;
    Ok(())
}

fn draw(s: &Settings, rows: &[Row]) -> Result<(), Error> {
    let path = s.out.join("peers-throughput.svg");
    let root = SVGBackend::new(&path, (1800, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, ALGS.len()));
    for (col, &alg) in ALGS.iter().enumerate() {
        let data: Vec<&Row> = rows.iter().filter(|r| r.alg == alg).collect();
        let names: Vec<&str> = data.iter().map(|r| r.label).collect();
        bars(
            &panels[col],
            &names,
            &format!("{alg}: GET /api/dashboard, requests/s (÷ none above each bar)"),
            &data.iter().map(|r| r.rps).collect::<Vec<_>>(),
            &data
                .iter()
                .map(|r| format!("{:.2}×", r.ratio))
                .collect::<Vec<_>>(),
            &BLUE,
        )?;
        bars(
            &panels[ALGS.len() + col],
            &names,
            &format!("{alg}: p99 latency, ms"),
            &data.iter().map(|r| r.p99_ms).collect::<Vec<_>>(),
            &data
                .iter()
                .map(|r| format!("{:.2}", r.p99_ms))
                .collect::<Vec<_>>(),
            &RED,
        )?;
    }
    root.present()?;
    let path = s.out.join("peers-rss.svg");
    let root = SVGBackend::new(&path, (1800, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((1, ALGS.len()));
    for (col, &alg) in ALGS.iter().enumerate() {
        let data: Vec<&Row> = rows.iter().filter(|r| r.alg == alg).collect();
        let names: Vec<&str> = data.iter().map(|r| r.label).collect();
        let mib: Vec<f64> = data.iter().map(|r| r.hwm_kib as f64 / 1024.0).collect();
        bars(
            &panels[col],
            &names,
            &format!("{alg}: peak RSS (VmHWM) under load, MiB"),
            &mib,
            &mib.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>(),
            &GREEN,
        )?;
    }
    root.present()?;
    Ok(())
}

fn bars(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    names: &[&str],
    caption: &str,
    values: &[f64],
    labels: &[String],
    color: &RGBColor,
) -> Result<(), Error> {
    let max = values.iter().copied().fold(0.0, f64::max) * 1.2;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d((0..values.len() - 1).into_segmented(), 0.0..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).copied().unwrap_or("").to_owned()
            }
            SegmentValue::Last => String::new(),
        })
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(color.mix(0.7).filled())
            .margin(12)
            .data(values.iter().enumerate().map(|(i, v)| (i, *v))),
    )?;
    chart.draw_series(values.iter().zip(labels).enumerate().map(|(i, (v, l))| {
        Text::new(
            l.clone(),
            (SegmentValue::CenterOf(i), v + max * 0.02),
            ("sans-serif", 13).into_font(),
        )
    }))?;
    Ok(())
}
