//! Imports end to end into a real archive in a temp directory: batches,
//! bad lines, bad bytes, long lines, a full disk.

use super::*;
use crate::samples::MAX_LINE_BYTES;

const LINE: &str = r#"{"app_id":"app1","room_id":"room-1","user_ids":"u1,u2","source":"quality","indicator":"audio_stall_rate","unit":"%","ts":1795435200,"time":"2026-11-23T12:00:00Z","value":98.68}"#;

fn run(
    text: &str,
    strict: bool,
    batch: usize,
) -> (tempfile::TempDir, Store, ImportReport, Vec<BadLine>) {
    let (dir, store, report, bad) = run_bytes(text.as_bytes(), SampleFormat::Jsonl, strict, batch);
    (dir, store, report.unwrap(), bad)
}

/// Imports `input` into a new archive: the archive reopened, the outcome, the bad lines.
fn run_bytes(
    input: &[u8],
    format: SampleFormat,
    strict: bool,
    batch: usize,
) -> (
    tempfile::TempDir,
    Store,
    Result<ImportReport, ImportError>,
    Vec<BadLine>,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = Store::open(&path, crate::store::OpenMode::Create).unwrap();
    let mut bad = Vec::new();
    let report = import(
        store,
        input,
        ImportOptions {
            format,
            strict,
            batch,
        },
        |_| {},
        |b| bad.push(b.clone()),
    );
    let store = Store::open(&path, crate::store::OpenMode::Existing).unwrap();
    (dir, store, report, bad)
}

fn count(store: &Store) -> i64 {
    store
        .conn()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap()
}

fn lines(n: i64) -> String {
    (0..n)
        .map(|i| {
            LINE.replace("1795435200", &(1_795_435_200 + i * 30).to_string())
                .replace(",\"time\":\"2026-11-23T12:00:00Z\"", "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn invalid_utf8_in_a_jsonl_line_is_a_bad_line_not_an_aborted_import() {
    let text = lines(4);
    let mut input = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if i == 1 {
            // one bad byte inside a string, as a Latin-1 editor writes "ü"
            let mut bytes = l.replace("app1", "app?").into_bytes();
            let at = bytes.iter().position(|&b| b == b'?').unwrap();
            bytes[at] = 0xFC;
            input.extend_from_slice(&bytes);
        } else {
            input.extend_from_slice(l.as_bytes());
        }
        input.push(b'\n');
    }
    let (_dir, store, report, bad) = run_bytes(&input, SampleFormat::Jsonl, false, 2);
    let report = report.unwrap();
    assert_eq!((report.imported, report.bad, report.lines), (3, 1, 4));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 2);
    assert!(bad[0].reason.starts_with("not UTF-8 text"), "{:?}", bad[0]);
    assert_eq!(count(&store), 3);
    // --strict stops there; the batch before it is stored
    let (_dir, store, report, _) = run_bytes(&input, SampleFormat::Jsonl, true, 1);
    assert!(report.unwrap().stopped);
    assert_eq!(count(&store), 1);
}

#[test]
fn a_utf8_bom_at_the_start_of_a_file_is_accepted() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(lines(2).as_bytes());
    let (_dir, store, report, bad) = run_bytes(&input, SampleFormat::Jsonl, false, 10);
    assert_eq!(report.unwrap().imported, 2, "{bad:?}");
    assert_eq!(count(&store), 2);
    // CRLF line ends too
    let crlf = lines(2).replace('\n', "\r\n");
    let (_dir, _, report, bad) = run_bytes(crlf.as_bytes(), SampleFormat::Jsonl, false, 10);
    assert_eq!(report.unwrap().imported, 2, "{bad:?}");

    let csv = "\u{feff}app_id,source,indicator,ts,value\r\napp1,operation,online_user_count,1795435200,3\r\n";
    let (_dir, store, report, bad) = run_bytes(csv.as_bytes(), SampleFormat::Csv, false, 10);
    assert_eq!(report.unwrap().imported, 1, "{bad:?}");
    assert_eq!(count(&store), 1);
}

#[test]
fn invalid_utf8_in_csv_is_a_bad_line_and_in_its_header_a_usage_error() {
    let mut input = b"app_id,source,indicator,ts,value\n".to_vec();
    input.extend_from_slice(b"app1,operation,online_user_count,1795435200,3\n");
    input.extend_from_slice(b"app\xFC,operation,online_user_count,1795435230,3\n");
    input.extend_from_slice(b"app1,operation,online_user_count,1795435260,3\n");
    let (_dir, store, report, bad) = run_bytes(&input, SampleFormat::Csv, false, 10);
    assert_eq!(report.unwrap().imported, 2);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 3);
    assert!(bad[0].reason.starts_with("not UTF-8 text"), "{:?}", bad[0]);
    assert_eq!(count(&store), 2);

    let header = b"app_id,sou\xFFrce,indicator,ts,value\napp1,operation,x,1795435200,3\n";
    let (_dir, store, report, _) = run_bytes(header, SampleFormat::Csv, false, 10);
    let e = report.unwrap_err();
    assert!(matches!(e, ImportError::Header(_)), "{e:#}");
    assert!(
        e.to_string()
            .contains("line 1: the CSV header is not UTF-8"),
        "{e:#}"
    );
    assert_eq!(count(&store), 0);
}

#[test]
fn csv_line_numbers_are_right_with_crlf_line_ends() {
    // the csv crate numbered every CRLF line after the header one too low
    let text = "app_id,source,indicator,ts,value,unit\r\n\
                app1,operation,x,1795435200,1,%\r\n\
                \r\n\
                app1,operation,x,1795435230,x,%\r\n\
                app1,operation,x,1795435260,1,\"%\"\r\n";
    let (_dir, store, report, bad) = run_bytes(text.as_bytes(), SampleFormat::Csv, false, 10);
    assert_eq!(report.unwrap().imported, 2, "{bad:?}");
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 4, "{bad:?}");
    assert_eq!(bad[0].reason, "value \"x\" is not a number");
    // the last field lost its \r
    let units: Vec<String> = store
        .conn()
        .prepare("SELECT DISTINCT unit FROM samples")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(units, ["%"]);
}

#[test]
fn a_line_longer_than_a_mebibyte_is_refused_without_holding_it() {
    let good = lines(2);
    let huge = format!("{{\"app_id\":\"{}\"}}", "a".repeat(3 * MAX_LINE_BYTES));
    let text = format!(
        "{}\n{huge}\n{}\n",
        good.lines().next().unwrap(),
        good.lines().nth(1).unwrap()
    );
    let (_dir, store, report, bad) = run_bytes(text.as_bytes(), SampleFormat::Jsonl, false, 10);
    assert_eq!(report.unwrap().imported, 2);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 2);
    assert!(
        bad[0].reason.starts_with("longer than 1048576 bytes"),
        "{:?}",
        bad[0]
    );
    assert_eq!(count(&store), 2);
    // without a line end at all
    let (_dir, _, report, bad) = run_bytes(huge.as_bytes(), SampleFormat::Jsonl, false, 10);
    assert_eq!((report.unwrap().bad, bad[0].line), (1, 1));

    // CSV cannot resume inside such a line: the import stops there,
    // naming it, with what came before committed
    let csv = format!(
        "app_id,source,indicator,ts,value\napp1,operation,x,1795435200,3\n{}\napp1,operation,x,1795435260,3\n",
        "a".repeat(3 * MAX_LINE_BYTES)
    );
    let (_dir, store, report, _) = run_bytes(csv.as_bytes(), SampleFormat::Csv, false, 10);
    let e = format!("{:#}", report.unwrap_err());
    assert!(e.contains("line 3: longer than 1048576 bytes"), "{e}");
    assert_eq!(count(&store), 1);
}

#[test]
fn imports_in_batches_idempotently() {
    let text = lines(10);
    let (_dir, store, report, bad) = run(&text, false, 3);
    assert!(bad.is_empty());
    assert_eq!(report.imported, 10);
    assert_eq!(
        report.written,
        WriteStats {
            covered: 0,
            new: 10,
            revised: 0,
            unchanged: 0
        }
    );
    assert_eq!(report.series, 1);
    let n: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM samples", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 10);
}

#[test]
fn a_disk_full_import_says_which_lines_were_committed() {
    // the message used to give the parser's position ("after line
    // 300000"), a batch or two ahead of what the writer had committed
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    let store = Store::open(&path, crate::store::OpenMode::Create).unwrap();
    let pages: i64 = store
        .conn()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    // SQLITE_FULL once the file may not grow: a full disk, a few batches in
    store
        .conn()
        .pragma_update(None, "max_page_count", pages + 12)
        .unwrap();
    let text = lines(40_000);
    let e = import(
        store,
        text.as_bytes(),
        ImportOptions {
            format: SampleFormat::Jsonl,
            strict: false,
            batch: 1000,
        },
        |_| {},
        |_| {},
    )
    .unwrap_err();
    // as the command reports it: the error and its causes
    let e = anyhow::Error::new(e);
    let store = Store::open(&path, crate::store::OpenMode::Existing).unwrap();
    let stored = count(&store);
    assert!(
        stored > 0 && stored < 40_000 && stored % 1000 == 0,
        "{stored}"
    );
    let message = format!("{e:#}");
    assert!(
        message.starts_with(&format!(
            "the archive could not be written; lines 1 to {stored} are committed, \
             nothing after line {stored} is: fix the problem (for a full disk, free space) \
             and run the same import again (the committed lines are left alone), or import \
             what follows line {stored}: "
        )),
        "{message}"
    );
    assert!(
        e.chain().any(|c| c
            .downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_io)),
        "a storage error (exit 74): {message}"
    );
}

#[test]
fn bad_lines_are_reported_by_number_and_skipped_or_stop() {
    let mut text = lines(6);
    text = text
        .replacen("98.68", "null", 1)
        .replace('\n', "\nnot json\n");
    let (_dir, _, report, bad) = run(&text, false, 100);
    assert_eq!(report.imported, 5);
    assert_eq!(
        bad.iter().map(|b| b.line).collect::<Vec<_>>(),
        [1, 2, 4, 6, 8, 10]
    );
    assert!(bad[0].reason.contains("value is missing"), "{:?}", bad[0]);
    assert!(bad[1].reason.contains("not a JSON object"), "{:?}", bad[1]);

    // strict: stop at the first bad line; the batch holding it is not stored
    let mut strict: Vec<String> = lines(10).lines().map(str::to_string).collect();
    strict.insert(6, "{}".into());
    let (_dir2, store, report, bad) = run(&strict.join("\n"), true, 4);
    assert!(report.stopped);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 7);
    let n: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM points", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 4, "only the batch before the bad line's");
}

#[test]
fn consecutive_lines_of_two_breakdown_values_stay_two_series() {
    let text = [
        r#"{"app_id":"a","source":"distribution","dimension":"OS","indicator":"video_stall_rate","dimension_value":"windows","ts":1795435200,"value":1.5}"#,
        r#"{"app_id":"a","source":"distribution","dimension":"Province","indicator":"video_stall_rate","dimension_value":"广东","ts":1795435200,"value":2.5,"resolution":300}"#,
        r#"{"app_id":"a","source":"quality","indicator":"video_stall_rate","ts":1795435200,"value":3.5,"resolution":300}"#,
        // a 30-second point in the same slot: real-time wins, whatever the order
        r#"{"app_id":"a","source":"quality","indicator":"video_stall_rate","ts":1795435230,"value":4.5,"resolution":30}"#,
    ]
    .join("\n");
    let (_dir, store, report, bad) = run(&text, false, 100);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(report.written.covered, 1, "{report:?}");
    type Row = (String, Option<String>, Option<String>, i64, f64);
    let rows: Vec<Row> = store
        .conn()
        .prepare(
            "SELECT source, dimension, dimension_value, resolution, value FROM samples
             ORDER BY source, dimension, ts",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            ("distribution".into(), s("OS"), s("windows"), 30, 1.5),
            ("distribution".into(), s("Province"), s("广东"), 300, 2.5),
            ("quality".into(), None, None, 30, 4.5),
        ]
    );
}

#[test]
fn breakdown_columns_are_checked_line_by_line() {
    let base = r#"{"app_id":"a","source":"distribution","dimension":"OS","indicator":"x","dimension_value":"ios","ts":1795435200,"value":1}"#;
    let cases = [
        (base.replace(r#""dimension":"OS","#, ""), "dimension is missing"),
        (base.replace(r#""dimension_value":"ios","#, ""), "dimension_value is missing"),
        (base.replace("\"OS\"", "\"Platform\""), "unknown dimension \"Platform\""),
        (
            base.replace("distribution", "quality"),
            "dimension \"OS\" on a quality point",
        ),
        (
            base.replace(r#""value":1"#, r#""value":1,"resolution":60"#),
            "resolution \"60\" is not 30 or 300",
        ),
        (
            r#"{"app_id":"a","source":"operation","indicator":"online_user_count","ts":1795435200,"value":1,"resolution":300}"#
                .to_string(),
            "no 5-minute history",
        ),
    ];
    for (line, want) in cases {
        let (_dir, _store, report, bad) = run(&line, false, 10);
        assert_eq!(report.written.new, 0, "{line}");
        assert_eq!(bad.len(), 1, "{line}");
        assert!(bad[0].reason.contains(want), "{line}: {}", bad[0].reason);
    }
}

#[test]
fn breakdown_bug_consecutive_values_of_one_indicator_stay_apart() {
    // the batcher's shortcut for "same series as the line before" compared
    // app, room, users, source and indicator only: `ios` after `android`
    // at the same indicator landed in android's series, as a revision
    let line = |value: &str, ts: i64, v: f64| {
        format!(
            r#"{{"app_id":"a","source":"distribution","dimension":"OS","indicator":"video_stall_rate","dimension_value":"{value}","ts":{ts},"value":{v}}}"#
        )
    };
    let text = [
        line("android", 1_795_435_200, 1.0),
        line("ios", 1_795_435_200, 2.0),
        line("ios", 1_795_435_230, 3.0),
        line("广东", 1_795_435_200, 4.0),
    ]
    .join("\n");
    let (_dir, store, report, bad) = run(&text, true, 1000);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(report.series, 3);
    assert_eq!(count(&store), 4);
    let values: Vec<(String, f64)> = store
        .conn()
        .prepare("SELECT dimension_value, value FROM samples ORDER BY value")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        values,
        [
            ("android".to_string(), 1.0),
            ("ios".to_string(), 2.0),
            ("ios".to_string(), 3.0),
            ("广东".to_string(), 4.0)
        ]
    );
}
