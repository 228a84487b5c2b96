//! What `export --since-last` shipped where: one row per destination in
//! the archive's `exports` table (migrations/0003_exports.sql), read
//! before an export and replaced once its files are in place.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::store::StoreError;

/// The last export to a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    /// The absolute path of `--out`.
    pub destination: String,
    /// The format and selection flags it was made with.
    pub selection: String,
    /// Every bucket before this was written there.
    pub until_ts: i64,
    pub points: i64,
    pub exported_at: i64,
}

/// The last export to `destination`, if any.
pub fn last(conn: &Connection, destination: &str) -> Result<Option<Shipped>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT destination, selection, until_ts, points, exported_at
             FROM exports WHERE destination = ?1",
            [destination],
            |r| {
                Ok(Shipped {
                    destination: r.get(0)?,
                    selection: r.get(1)?,
                    until_ts: r.get(2)?,
                    points: r.get(3)?,
                    exported_at: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Records an export, replacing the destination's previous one.
pub fn record(conn: &Connection, s: &Shipped) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO exports (destination, selection, until_ts, points, exported_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (destination) DO UPDATE SET selection = excluded.selection,
           until_ts = excluded.until_ts, points = excluded.points,
           exported_at = excluded.exported_at",
        params![
            s.destination,
            s.selection,
            s.until_ts,
            s.points,
            s.exported_at
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn an_export_replaces_the_previous_one_to_the_same_destination() {
        let store = Store::in_memory().unwrap();
        let conn = store.conn();
        assert_eq!(last(conn, "/lake/rtc").unwrap(), None);
        let mut s = Shipped {
            destination: "/lake/rtc".into(),
            selection: "format=parquet".into(),
            until_ts: 100,
            points: 7,
            exported_at: 160,
        };
        record(conn, &s).unwrap();
        s.until_ts = 200;
        s.points = 3;
        record(conn, &s).unwrap();
        assert_eq!(last(conn, "/lake/rtc").unwrap(), Some(s));
        assert_eq!(last(conn, "/lake/other").unwrap(), None);
    }
}
