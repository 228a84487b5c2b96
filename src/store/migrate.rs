//! Numbered SQL files from `migrations/`, embedded at build time and applied
//! in order when a database opens, tracked in `PRAGMA user_version`.
//!
//! (rusqlite_migration does the same, but pins an older rusqlite than ours;
//! this is the few lines we need of it.)

use std::collections::BTreeSet;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// `PRAGMA application_id`: "RTCA", so that we never migrate someone else's database.
pub const APPLICATION_ID: i64 = 0x5254_4341;

/// Every migration, in order: (version, file name, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_initial.sql",
        include_str!("../../migrations/0001_initial.sql"),
    ),
    (
        2,
        "0002_failure_streaks.sql",
        include_str!("../../migrations/0002_failure_streaks.sql"),
    ),
    (
        3,
        "0003_over_budget_gaps.sql",
        include_str!("../../migrations/0003_over_budget_gaps.sql"),
    ),
    (
        4,
        "0004_exports.sql",
        include_str!("../../migrations/0004_exports.sql"),
    ),
    (
        5,
        "0005_history_and_dimensions.sql",
        include_str!("../../migrations/0005_history_and_dimensions.sql"),
    ),
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// What `migrate` found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub from: i64,
    pub to: i64,
}

/// Reads the schema version, refusing databases that are not ours, are
/// newer, or whose bookkeeping contradicts itself: an application_id of
/// ours with a user_version no migration wrote, or objects missing that the
/// recorded version created. Reads only.
pub fn check(conn: &Connection) -> Result<i64, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let objects = schema_objects(conn)?;
    if app_id != APPLICATION_ID {
        if app_id != 0 || !objects.is_empty() {
            return Err(StoreError::NotAnArchive);
        }
        if version != 0 {
            return Err(StoreError::Inconsistent(format!(
                "it holds no tables, yet its user_version is {version}, which only an archive \
                 of schema version {version} has"
            )));
        }
        return Ok(0);
    }
    if version > latest_version() {
        return Err(StoreError::TooNew {
            found: version,
            supported: latest_version(),
        });
    }
    if version < 1 {
        return Err(StoreError::Inconsistent(format!(
            "its application_id marks an rtc-archiver archive, but its user_version is \
             {version}, which no rtc-archiver writes (reset by hand?)"
        )));
    }
    let missing: Vec<String> = expected_objects(version)
        .into_iter()
        .filter(|o| !objects.contains(o))
        .map(|(kind, name)| format!("{kind} {name}"))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Inconsistent(format!(
            "schema version {version} has no {} (dropped by hand, or a damaged file)",
            missing.join(", ")
        )));
    }
    Ok(version)
}

/// The tables, views, indexes and triggers of a database, as (type, name),
/// without SQLite's own.
fn schema_objects(conn: &Connection) -> rusqlite::Result<BTreeSet<(String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// The objects the migrations up to `version` leave, read from their SQL
/// (`CREATE`, `DROP`, `ALTER TABLE ... RENAME TO`): running them on a
/// database in memory would cost every open a millisecond. A test holds
/// this to what running them leaves.
fn expected_objects(version: i64) -> BTreeSet<(String, String)> {
    objects_of(MIGRATIONS.iter().filter(|m| m.0 <= version).map(|m| m.2))
}

/// The objects that running `scripts` in order leaves, read from their SQL.
fn objects_of<'a>(scripts: impl Iterator<Item = &'a str>) -> BTreeSet<(String, String)> {
    let mut objects = BTreeSet::new();
    for sql in scripts {
        for statement in tokens(sql).split(|t| t == ";") {
            let upper: Vec<String> = statement.iter().map(|t| t.to_ascii_uppercase()).collect();
            let words: Vec<&str> = upper.iter().map(String::as_str).collect();
            // the object's kind and where its (possibly schema-qualified) name starts
            let named = |at: usize| -> Option<(String, String)> {
                let kind = words.get(at)?.to_ascii_lowercase();
                let mut i = at + 1;
                if words.get(i..i + 3) == Some(&["IF", "NOT", "EXISTS"][..]) {
                    i += 3;
                } else if words.get(i..i + 2) == Some(&["IF", "EXISTS"][..]) {
                    i += 2;
                }
                if words.get(i + 1) == Some(&".") {
                    i += 2;
                }
                Some((kind, statement.get(i)?.clone()))
            };
            match words.as_slice() {
                ["CREATE", rest @ ..] => {
                    let skip = rest
                        .iter()
                        .take_while(|w| matches!(**w, "TEMP" | "TEMPORARY" | "UNIQUE" | "VIRTUAL"))
                        .count();
                    objects.extend(named(1 + skip));
                }
                ["DROP", ..] => {
                    if let Some(o) = named(1) {
                        objects.remove(&o);
                    }
                }
                ["ALTER", "TABLE", .., "RENAME", "TO", _] => {
                    if let (Some(old), Some(new)) = (named(1), statement.last()) {
                        objects.remove(&old);
                        objects.insert((old.0, new.clone()));
                    }
                }
                _ => {}
            }
        }
    }
    objects
}

/// SQL as words, quoted names (unquoted) and punctuation, without comments
/// and string literals: enough to find what a migration creates.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                chars.by_ref().find(|&c| c == '\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '\'' => {
                // a literal; '' inside is a quote, and skipping it twice is the same
                chars.by_ref().find(|&c| c == '\'');
                out.push("'".into());
            }
            '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                out.push(chars.by_ref().take_while(|&c| c != close).collect());
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !(n.is_alphanumeric() || n == '_' || n == '$') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(word);
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

/// Brings the schema up to date: each pending migration in its own
/// transaction, so a failure leaves the last complete version behind.
///
/// Foreign keys are off while a migration runs (a table that others
/// reference can then be rebuilt, as SQLite's documentation prescribes) and
/// checked before it commits; they are switched back as they were.
pub fn migrate(conn: &mut Connection) -> Result<Migrated, StoreError> {
    let from = check(conn)?;
    let foreign_keys: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = apply(conn, from);
    conn.pragma_update(None, "foreign_keys", foreign_keys)?;
    result?;
    Ok(Migrated {
        from,
        to: latest_version(),
    })
}

fn apply(conn: &mut Connection, from: i64) -> Result<(), StoreError> {
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > from) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|error| StoreError::Migration { name, error })?;
        let dangling: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if dangling > 0 {
            return Err(StoreError::Inconsistent(format!(
                "migration {name} would leave {dangling} row(s) referring to rows that do not \
                 exist; nothing was changed"
            )));
        }
        tx.pragma_update(None, "user_version", version)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_in_migrations_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = MIGRATIONS.iter().map(|m| m.1).collect();
        assert_eq!(files, embedded);
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i64 + 1);
            assert!(m.1.starts_with(&format!("{:04}_", m.0)));
        }
    }

    #[test]
    fn migrations_apply_to_an_empty_database_and_validate() {
        let mut conn = Connection::open_in_memory().unwrap();
        let m = migrate(&mut conn).unwrap();
        assert_eq!(
            m,
            Migrated {
                from: 0,
                to: latest_version()
            }
        );
        // applying again is a no-op
        let again = migrate(&mut conn).unwrap();
        assert_eq!(again.from, latest_version());
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        // every view compiles and has the documented columns
        let cols = |view: &str| -> Vec<String> {
            let stmt = conn.prepare(&format!("SELECT * FROM {view}")).unwrap();
            stmt.column_names().map(String::from).collect()
        };
        assert_eq!(
            cols("samples"),
            [
                "app_id",
                "room_id",
                "user_ids",
                "source",
                "indicator",
                "unit",
                "ts",
                "time",
                "value",
                "resolution",
                "dimension",
                "dimension_value"
            ]
        );
        assert_eq!(
            cols("gaps"),
            [
                "app_id",
                "room_id",
                "user_ids",
                "source",
                "indicator",
                "start_ts",
                "end_ts",
                "start_time",
                "end_time",
                "seconds",
                "cause",
                "detail",
                "recorded_at",
                "dimension",
                "repaired_resolution",
                "repaired_at"
            ]
        );
        assert_eq!(
            cols("fetched"),
            [
                "app_id",
                "room_id",
                "user_ids",
                "source",
                "indicator",
                "first_ts",
                "done_ts",
                "first_time",
                "done_time",
                "dimension"
            ]
        );
        for view in ["samples_hourly", "samples_daily"] {
            let c = cols(view);
            for want in [
                "app_id",
                "indicator",
                "ts",
                "count",
                "avg",
                "min",
                "max",
                "sum",
                "buckets",
                "dimension",
                "dimension_value",
            ] {
                assert!(c.iter().any(|x| x == want), "{view} lacks {want}: {c:?}");
            }
        }
    }

    #[test]
    fn newer_and_foreign_databases_are_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .unwrap();
        let e = migrate(&mut conn).unwrap_err();
        assert!(matches!(e, StoreError::TooNew { .. }), "{e:?}");
        assert!(e.to_string().contains("newer"), "{e}");

        let mut other = Connection::open_in_memory().unwrap();
        other.execute_batch("CREATE TABLE t (x)").unwrap();
        let e = migrate(&mut other).unwrap_err();
        assert!(matches!(e, StoreError::NotAnArchive), "{e:?}");
    }

    #[test]
    fn the_objects_read_from_the_migrations_are_what_running_them_leaves() {
        for version in 1..=latest_version() {
            let conn = Connection::open_in_memory().unwrap();
            for m in MIGRATIONS.iter().filter(|m| m.0 <= version) {
                conn.execute_batch(m.2).unwrap();
            }
            let ran = schema_objects(&conn).unwrap();
            assert!(ran.len() > 5, "{ran:?}");
            assert_eq!(expected_objects(version), ran, "version {version}");
        }
        // the forms the reader knows, and what it must not be fooled by
        let sql = "-- CREATE TABLE not_this (x);
            /* CREATE VIEW nor_this AS SELECT 1; */
            CREATE TABLE IF NOT EXISTS main.\"a b\" (x DEFAULT 'CREATE TABLE c (y);');
            create temp view [v] as select ';';
            CREATE UNIQUE INDEX i ON \"a b\" (x);
            CREATE TABLE old (x); ALTER TABLE old RENAME TO new;
            CREATE TABLE gone (x); DROP TABLE IF EXISTS gone;";
        let objects: Vec<(String, String)> = objects_of([sql].into_iter()).into_iter().collect();
        let want = [
            ("index", "i"),
            ("table", "a b"),
            ("table", "new"),
            ("view", "v"),
        ];
        assert_eq!(
            objects,
            want.map(|(k, n)| (k.to_string(), n.to_string())),
            "{:?}",
            tokens(sql)
        );
    }

    #[test]
    fn a_reset_user_version_or_a_dropped_table_is_an_inconsistent_archive() {
        let archive = || {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate(&mut conn).unwrap();
            conn
        };
        let inconsistent = |conn: &Connection, needle: &str| {
            let e = check(conn).unwrap_err();
            assert!(matches!(e, StoreError::Inconsistent(_)), "{e:?}");
            let text = e.to_string();
            assert!(text.contains(needle), "{needle:?} in {text}");
            assert!(!text.contains('\n') && !text.contains("CREATE"), "{text}");
        };
        let conn = archive();
        conn.pragma_update(None, "user_version", 0).unwrap();
        inconsistent(&conn, "user_version is 0");
        conn.pragma_update(None, "user_version", -3).unwrap();
        inconsistent(&conn, "user_version is -3");
        let conn = archive();
        conn.execute_batch("DROP VIEW samples; DROP TABLE gap_log")
            .unwrap();
        inconsistent(&conn, "no table gap_log, view samples");
        // a user_version on a database with nothing in it
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        inconsistent(&conn, "holds no tables");
        // what users may add beside the schema is theirs
        let conn = archive();
        conn.execute_batch(
            "CREATE VIEW my_view AS SELECT 1; CREATE INDEX my_index ON series (unit)",
        )
        .unwrap();
        assert_eq!(check(&conn).unwrap(), latest_version());
    }

    #[test]
    fn a_failed_migration_says_what_in_one_line_without_its_sql() {
        let mut conn = Connection::open_in_memory().unwrap();
        // someone else's table in the way, in a database that is not yet ours
        let tx = conn.transaction().unwrap();
        tx.execute_batch("CREATE TABLE streams (x)").unwrap();
        let sql = MIGRATIONS[0].2;
        let error = tx.execute_batch(sql).unwrap_err();
        assert!(
            error.to_string().contains("CREATE"),
            "rusqlite quotes the SQL: {error}"
        );
        let e = StoreError::Migration {
            name: MIGRATIONS[0].1,
            error,
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "migration 0001_initial.sql failed: table streams already exists"
        );
        assert!(
            std::error::Error::source(&e).is_none(),
            "no source that would print the SQL"
        );
    }
}
