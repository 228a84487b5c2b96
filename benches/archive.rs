//! The archive-scale benchmark (`cargo bench`): a year of 30-second data
//! for 50 series, imported into an empty archive, then queried and
//! reported on by the real binary, next to the raw SQLite limits measured in
//! the same run; plus the collector's idle footprint and fsyncs per answer.
//!
//! Knobs (environment): RTC_BENCH_SERIES (50), RTC_BENCH_DAYS (365),
//! RTC_BENCH_RUNS (repetitions of each timed command, 10),
//! RTC_BENCH_IMPORT_RUNS (3), RTC_BENCH_DIR (scratch directory; default a
//! temp dir), RTC_BENCH_SKIP (comma list of: import, query, report,
//! collector). Results print as a table and go to target/bench-results.json.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rtc-archiver");
/// 2025-11-24T00:00:00Z: the year before "now" of the data.
const YEAR_START: i64 = 1_763_942_400;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn skip(what: &str) -> bool {
    std::env::var("RTC_BENCH_SKIP").is_ok_and(|v| v.split(',').any(|s| s.trim() == what))
}

/// min / median / max of some durations, in milliseconds.
#[derive(Debug, Clone, Copy)]
struct Spread {
    min: f64,
    median: f64,
    max: f64,
}

fn spread(mut ms: Vec<f64>) -> Spread {
    ms.sort_by(f64::total_cmp);
    Spread {
        min: ms[0],
        median: ms[ms.len() / 2],
        max: ms[ms.len() - 1],
    }
}

fn run_timed(args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run rtc-archiver");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

fn repeat(runs: u64, args: &[&str]) -> Spread {
    run_timed(args); // warm the page cache once
    spread((0..runs).map(|_| run_timed(args)).collect())
}

/// The series of the generated archive: (source, app, room, users, indicator, unit).
/// Every tenth is app-wide operation data; the others are quality data of
/// their own room (every other one for two users).
type SeriesSpec = (
    &'static str,
    String,
    Option<String>,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

fn series_list(n: usize) -> Vec<SeriesSpec> {
    let quality = [
        "audio_stall_rate",
        "video_stall_rate",
        "5s_join_room_success_rate",
        "10s_join_room_success_rate",
        "network_trans_delay",
    ];
    (0..n)
        .map(|i| {
            if i % 10 == 9 {
                let indicator = ["online_user_count", "online_room_count"][(i / 10) % 2];
                (
                    "operation",
                    format!("app{}", i / 20),
                    None,
                    None,
                    indicator,
                    None,
                )
            } else {
                let users = (i % 2 == 0).then_some("u1,u2");
                (
                    "quality",
                    "app1".to_string(),
                    Some(format!("room-{i}")),
                    users,
                    quality[i % 5],
                    Some("%"),
                )
            }
        })
        .collect()
}

/// A value with two decimals for rates, an integer for counts.
fn value(series: usize, ts: i64, operation: bool) -> f64 {
    let mut x = (series as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (ts as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 29;
    let noise = (x >> 11) as f64 / (1u64 << 53) as f64;
    let wave = ((ts.rem_euclid(86_400)) as f64 / 86_400.0 * std::f64::consts::TAU).sin();
    if operation {
        (3000.0 + 900.0 * wave + 50.0 * noise).round()
    } else if series % 5 == 2 || series % 5 == 3 {
        ((98.5 + 0.4 * wave + 0.8 * noise) * 100.0).round() / 100.0
    } else {
        ((1.5 + 0.5 * wave + 1.5 * noise * noise) * 100.0).round() / 100.0
    }
}

/// Writes the year as JSON Lines, series after series (as `export` does).
fn generate(path: &Path, series: usize, days: i64) -> u64 {
    let list = series_list(series);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut n = 0u64;
    let mut line = String::with_capacity(256);
    for (i, (source, app, room, users, indicator, unit)) in list.iter().enumerate() {
        let room = room
            .as_ref()
            .map_or("null".to_string(), |r| format!("\"{r}\""));
        let users = users.map_or("null".to_string(), |u| format!("\"{u}\""));
        let unit = unit.map_or("null".to_string(), |u| format!("\"{u}\""));
        let prefix = format!(
            "{{\"app_id\":\"{app}\",\"room_id\":{room},\"user_ids\":{users},\"source\":\"{source}\",\"indicator\":\"{indicator}\",\"unit\":{unit},\"ts\":"
        );
        let operation = *source == "operation";
        for b in 0..days * 2880 {
            let ts = YEAR_START + b * 30;
            // 1% of buckets without data, as the API has
            if (ts / 30 + i as i64 * 7) % 100 == 0 {
                continue;
            }
            line.clear();
            line.push_str(&prefix);
            let _ = writeln!(
                line,
                "{ts},\"time\":\"{}\",\"value\":{}}}",
                rtc_archiver::timeutil::fmt_utc(ts),
                value(i, ts, operation)
            );
            out.write_all(line.as_bytes()).unwrap();
            n += 1;
        }
    }
    out.flush().unwrap();
    n
}

/// The raw limit: a prepared upsert of pre-built rows into the same narrow
/// table, one transaction per 1000 rows of one series, WAL + synchronous FULL.
fn raw_upsert_rate(dir: &Path, rows: u64) -> f64 {
    let path = dir.join("raw.db");
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "page_size", 8192).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE points (series_id INTEGER NOT NULL, bucket INTEGER NOT NULL, value ANY NOT NULL,
         PRIMARY KEY (series_id, bucket)) STRICT, WITHOUT ROWID;",
    )
    .unwrap();
    let per_series = 365 * 2880;
    let built: Vec<(i64, i64, i64)> = (0..rows as i64)
        .map(|i| (i / per_series, i % per_series + 1_000_000, 9000 + i % 1000))
        .collect();
    let t = Instant::now();
    for chunk in built.chunks(1000) {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO points (series_id, bucket, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (series_id, bucket) DO UPDATE SET value = excluded.value",
                )
                .unwrap();
            for (s, b, v) in chunk {
                stmt.execute((s, b, v)).unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let rate = rows as f64 / t.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(dir.join("raw.db-wal"));
    let _ = std::fs::remove_file(dir.join("raw.db-shm"));
    rate
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn start_simulator() -> (std::process::Child, String) {
    let mut sim = Command::new(BIN)
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().trim_start_matches("listening on ").to_string();
    (sim, endpoint)
}

fn collector_config(dir: &Path, endpoint: &str, targets: usize) -> PathBuf {
    let mut text = format!(
        "database = \"collector.db\"\ninterval = \"60s\"\n[api]\nendpoint = \"{endpoint}\"\n"
    );
    for t in 0..targets {
        let _ = write!(
            text,
            "[[target]]\napp_id = \"app{t}\"\nquality = [\"stall_rate\", \"join_room_success_rate\"]\noperation = [\"online_user_count\", \"online_room_count\"]\n"
        );
    }
    let path = dir.join("collector.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would run us too: do nothing then
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let series = env_num("RTC_BENCH_SERIES", 50) as usize;
    let days = env_num("RTC_BENCH_DAYS", 365) as i64;
    let runs = env_num("RTC_BENCH_RUNS", 10);
    let import_runs = env_num("RTC_BENCH_IMPORT_RUNS", 3);
    let scratch;
    let dir: PathBuf = match std::env::var("RTC_BENCH_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            scratch = tempfile::tempdir().unwrap();
            scratch.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut results = serde_json::Map::new();
    let mut table: Vec<(String, String, String)> = Vec::new();
    let machine = machine();
    eprintln!("rtc-archiver benchmark: {series} series x {days} days on {machine}");

    let db = dir.join("bench.db");
    let db_s = db.to_str().unwrap().to_string();
    let data = dir.join("year.jsonl");
    let points;
    if !skip("import") || !db.exists() {
        let t = Instant::now();
        points = generate(&data, series, days);
        eprintln!(
            "generated {points} points ({:.1} GB) in {:.0} s",
            std::fs::metadata(&data).unwrap().len() as f64 / 1e9,
            t.elapsed().as_secs_f64()
        );

        let raw = raw_upsert_rate(&dir, points.min(10_000_000));
        eprintln!("raw upsert limit: {:.0} rows/s", raw);
        let mut rates = Vec::new();
        for r in 0..import_runs.max(1) {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{db_s}{suffix}"));
            }
            let ms = run_timed(&["import", "--quiet", "--db", &db_s, data.to_str().unwrap()]);
            let rate = points as f64 / (ms / 1000.0);
            eprintln!(
                "import run {}: {:.1} s, {:.0} points/s",
                r + 1,
                ms / 1000.0,
                rate
            );
            rates.push(rate);
        }
        let s = spread(rates.clone());
        let size = std::fs::metadata(&db).unwrap().len();
        let bpp = size as f64 / points as f64;
        table.push((
            "bytes per point".into(),
            format!("{bpp:.2} ({:.0} MB / {points} points)", size as f64 / 1e6),
            "≤ 14".into(),
        ));
        table.push((
            "import, points/s".into(),
            format!(
                "{:.0} / {:.0} / {:.0} (min/median/max), {:.2}× the raw limit of {:.0}",
                s.min,
                s.median,
                s.max,
                s.median / raw,
                raw
            ),
            "≥ 0.6× raw".into(),
        ));
        results.insert("points".into(), points.into());
        results.insert("db_bytes".into(), size.into());
        results.insert("bytes_per_point".into(), bpp.into());
        results.insert("raw_upsert_rows_per_sec".into(), raw.into());
        results.insert(
            "import_points_per_sec".into(),
            serde_json::json!({"min": s.min, "median": s.median, "max": s.max}),
        );
        results.insert("import_ratio".into(), (s.median / raw).into());
        let _ = std::fs::remove_file(&data);
    } else {
        points = 0;
    }

    let day = YEAR_START + (days - 2).max(0) * 86_400;
    let day_s = rtc_archiver::timeutil::fmt_utc(day);
    let next_s = rtc_archiver::timeutil::fmt_utc(day + 86_400);
    let year_end = rtc_archiver::timeutil::fmt_utc(YEAR_START + days * 86_400);
    let year_start = rtc_archiver::timeutil::fmt_utc(YEAR_START);
    if !skip("query") {
        let q1 = repeat(
            runs,
            &[
                "query",
                "--db",
                &db_s,
                "--indicator",
                "video_stall_rate",
                "--app",
                "app1",
                "--room",
                "room-11",
                "--from",
                &day_s,
                "--to",
                &next_s,
                "--format",
                "jsonl",
            ],
        );
        table.push((
            "query one series over one day (process)".into(),
            fmt_ms(q1),
            "≤ 20 ms".into(),
        ));
        results.insert("query_one_day_ms".into(), spread_json(q1));
        for (label, tz) in [("UTC days", "UTC"), ("Asia/Shanghai days", "Asia/Shanghai")] {
            let mut all = Vec::new();
            for agg in ["avg", "min", "max"] {
                let args = [
                    "query",
                    "--db",
                    &db_s,
                    "--indicator",
                    "video_stall_rate",
                    "--room",
                    "room-11",
                    "--from",
                    &year_start,
                    "--to",
                    &year_end,
                    "--step",
                    "1d",
                    "--agg",
                    agg,
                    "--tz",
                    tz,
                    "--format",
                    "jsonl",
                ];
                run_timed(&args); // warm the page cache once
                for _ in 0..runs {
                    all.push(run_timed(&args));
                }
            }
            let s = spread(all);
            table.push((
                format!("daily avg/min/max of one series over the year, {label} (process)"),
                fmt_ms(s),
                "≤ 50 ms".into(),
            ));
            results.insert(
                format!("year_daily_{}_ms", tz.replace('/', "_")),
                spread_json(s),
            );
        }
    }
    if !skip("report") {
        let day_only = &day_s[..10];
        let r = repeat(
            runs.clamp(3, 5),
            &[
                "report", "--db", &db_s, "--day", day_only, "--tz", "UTC", "--format", "json",
            ],
        );
        table.push((
            format!("report of one day over {series} series (process)"),
            fmt_ms(r),
            "≤ 1 s".into(),
        ));
        results.insert("report_one_day_ms".into(), spread_json(r));
    }
    if !skip("collector") {
        let (mut sim, endpoint) = start_simulator();
        let config = collector_config(&dir, &endpoint, 10);
        let cfg = config.to_str().unwrap();
        let env_creds = [
            (
                "VOLC_ACCESSKEY",
                rtc_archiver::simulator::DEFAULT_ACCESS_KEY,
            ),
            (
                "VOLC_SECRETKEY",
                rtc_archiver::simulator::DEFAULT_SECRET_KEY,
            ),
        ];
        let _ = std::fs::remove_file(dir.join("collector.db"));
        // fsyncs of a pass writing 10 targets' answers (20 answers): a first
        // pass fills the archive, then a daemon polling every 20 s runs under
        // strace; its fsyncs are grouped by pass (a pause of seconds between)
        let out = Command::new(BIN)
            .args(["collect", "--once", "--config", cfg])
            .envs(env_creds)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let strace = Command::new("strace")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if strace {
            let fast = dir.join("collector-20s.toml");
            std::fs::write(
                &fast,
                std::fs::read_to_string(&config)
                    .unwrap()
                    .replace("interval = \"60s\"", "interval = \"20s\""),
            )
            .unwrap();
            let trace = dir.join("strace.txt");
            let mut traced = Command::new("strace")
                .args([
                    "-f",
                    "-tt",
                    "-e",
                    "trace=fsync,fdatasync",
                    "-o",
                    trace.to_str().unwrap(),
                    BIN,
                    "collect",
                    "--config",
                    fast.to_str().unwrap(),
                ])
                .envs(env_creds)
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_secs(50));
            // the daemon, not strace: its command line starts with the binary
            let _ = Command::new("pkill")
                .args(["-TERM", "-f", &format!("^{BIN} collect --config")])
                .status();
            let _ = traced.wait();
            let text = std::fs::read_to_string(&trace).unwrap_or_default();
            let mut passes: Vec<u64> = Vec::new();
            let mut last: Option<f64> = None;
            for line in text
                .lines()
                .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
            {
                let Some(t) = line.split_whitespace().nth(1).and_then(|t| {
                    let mut p = t.split(':');
                    let h: f64 = p.next()?.parse().ok()?;
                    let m: f64 = p.next()?.parse().ok()?;
                    let s: f64 = p.next()?.parse().ok()?;
                    Some(h * 3600.0 + m * 60.0 + s)
                }) else {
                    continue;
                };
                if last.is_none_or(|l| t - l > 5.0) {
                    passes.push(0);
                }
                *passes.last_mut().unwrap() += 1;
                last = Some(t);
            }
            let steady: Vec<u64> = passes.iter().skip(1).copied().collect();
            table.push((
                "fsyncs per collector pass writing 10 targets' answers (20 answers), daemon".into(),
                format!(
                    "first pass after start {} (one more: SQLite syncs the directory once per process), then {} ({:.2} per answer)",
                    passes.first().copied().unwrap_or(0),
                    steady.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                    steady.iter().copied().max().unwrap_or(0) as f64 / 20.0
                ),
                "≤ 1 per answer".into(),
            ));
            results.insert("pass_fsyncs".into(), serde_json::json!(passes));
        } else {
            table.push((
                "fsyncs per answer".into(),
                "not measured: strace is not installed".into(),
                "≤ 1 per answer".into(),
            ));
        }
        // idle footprint of the daemon between passes
        let mut daemon = Command::new(BIN)
            .args(["collect", "--config", cfg])
            .envs(env_creds)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(8));
        let pid = daemon.id();
        let t0 = cpu_ticks(pid).unwrap_or(0);
        let idle = Duration::from_secs(20);
        let mut rss_max = 0;
        let started = Instant::now();
        while started.elapsed() < idle {
            rss_max = rss_max.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(500));
        }
        let t1 = cpu_ticks(pid).unwrap_or(0);
        let hz = 100.0; // USER_HZ on Linux
        let cpu_pct = (t1 - t0) as f64 / hz / idle.as_secs_f64() * 100.0;
        let _ = daemon.kill();
        let _ = daemon.wait();
        let _ = sim.kill();
        let _ = sim.wait();
        table.push((
            "collector idle between passes: RSS / CPU".into(),
            format!(
                "{:.1} MB / {cpu_pct:.2} % of a core",
                rss_max as f64 / 1024.0
            ),
            "≤ 25 MB / ~0".into(),
        ));
        results.insert("collector_idle_rss_kb".into(), rss_max.into());
        results.insert("collector_idle_cpu_pct".into(), cpu_pct.into());
    }

    if !skip("scale") {
        // the collector with many targets waiting at the pacer (2 requests a
        // second): steady memory and CPU at two sizes, so that growth with
        // the number of targets shows (issue 14: 2,000 targets, ≤ 50 MB)
        let (mut sim, endpoint) = start_simulator();
        let mut rows = Vec::new();
        for targets in [500usize, 2000] {
            let cfg = dir.join(format!("scale-{targets}.toml"));
            let mut text = format!(
                "database = \"scale-{targets}.db\"\ninterval = \"30s\"\n[api]\nendpoint = \"{endpoint}\"\n\
                 [[target]]\napp_id = \"app\"\nquality = [\"stall_rate\"]\noperation = [\"online_user_count\"]\n"
            );
            for t in 0..targets {
                let _ = write!(
                    text,
                    "[[target]]\napp_id = \"app\"\nroom_id = \"room-{t}\"\nquality = [\"stall_rate\"]\n"
                );
            }
            std::fs::write(&cfg, text).unwrap();
            let _ = std::fs::remove_file(dir.join(format!("scale-{targets}.db")));
            let mut daemon = Command::new(BIN)
                .args(["collect", "--config", cfg.to_str().unwrap()])
                .env(
                    "VOLC_ACCESSKEY",
                    rtc_archiver::simulator::DEFAULT_ACCESS_KEY,
                )
                .env(
                    "VOLC_SECRETKEY",
                    rtc_archiver::simulator::DEFAULT_SECRET_KEY,
                )
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let pid = daemon.id();
            std::thread::sleep(Duration::from_secs(20));
            let t0 = cpu_ticks(pid).unwrap_or(0);
            let window = Duration::from_secs(40);
            let started = Instant::now();
            let mut rss_max = 0;
            while started.elapsed() < window {
                rss_max = rss_max.max(proc_status_kb(pid, "VmRSS:").unwrap_or(0));
                std::thread::sleep(Duration::from_millis(500));
            }
            let cpu_s = (cpu_ticks(pid).unwrap_or(0) - t0) as f64 / 100.0;
            let _ = daemon.kill();
            let _ = daemon.wait();
            // requests in the window: 2 a second
            let per_request_ms = cpu_s * 1000.0 / (window.as_secs_f64() * 2.0);
            rows.push((
                targets,
                rss_max,
                cpu_s / window.as_secs_f64() * 100.0,
                per_request_ms,
            ));
            results.insert(
                format!("scale_{targets}_targets"),
                serde_json::json!({"rss_kb": rss_max, "cpu_s": cpu_s, "cpu_ms_per_request": per_request_ms}),
            );
        }
        let _ = sim.kill();
        let _ = sim.wait();
        for (targets, rss, cpu_pct, per_request) in &rows {
            table.push((
                format!(
                    "collector with {targets} targets waiting at 2 requests/s: steady RSS / CPU"
                ),
                format!(
                    "{:.1} MB / {cpu_pct:.1} % of a core ({per_request:.2} ms of CPU per request)",
                    *rss as f64 / 1024.0
                ),
                if *targets == 2000 {
                    "≤ 50 MB".into()
                } else {
                    "-".into()
                },
            ));
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{series} series x {days} days ({points} points), {runs} runs per command, on {machine}\n"
    );
    let _ = writeln!(out, "| figure | measured | target |");
    let _ = writeln!(out, "|---|---|---|");
    for (a, b, c) in &table {
        let _ = writeln!(out, "| {a} | {b} | {c} |");
    }
    println!("{out}");
    results.insert("machine".into(), machine.into());
    results.insert("series".into(), series.into());
    results.insert("days".into(), days.into());
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results.json");
    let _ = std::fs::write(&target, serde_json::to_string_pretty(&results).unwrap());
    eprintln!("results written to {}", target.display());
}

fn fmt_ms(s: Spread) -> String {
    format!(
        "{:.1} / {:.1} / {:.1} ms (min/median/max)",
        s.min, s.median, s.max
    )
}

fn spread_json(s: Spread) -> serde_json::Value {
    serde_json::json!({"min": s.min, "median": s.median, "max": s.max})
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .map_or("?".into(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("{cores} cores ({cpu}), {mem} RAM")
}
