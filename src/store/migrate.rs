//! Numbered SQL files from `migrations/`, embedded at build time and applied
//! in order when a database opens, tracked in `PRAGMA user_version`.
//!
//! (rusqlite_migration does the same, but pins an older rusqlite than ours;
//! this is the few lines we need of it.)

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

/// Reads the schema version, refusing databases that are not ours or are newer.
pub fn check(conn: &Connection) -> Result<i64, StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let app_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        return Err(StoreError::NotAnArchive);
    }
    if version > latest_version() {
        return Err(StoreError::TooNew {
            found: version,
            supported: latest_version(),
        });
    }
    Ok(version)
}

/// Brings the schema up to date: each pending migration in its own
/// transaction, so a failure leaves the last complete version behind.
pub fn migrate(conn: &mut Connection) -> Result<Migrated, StoreError> {
    let from = check(conn)?;
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > from) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration { name, source: e })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(Migrated {
        from,
        to: latest_version(),
    })
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
                "value"
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
                "recorded_at"
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
                "done_time"
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
}
