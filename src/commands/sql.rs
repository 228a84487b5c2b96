//! `rtc-archiver sql "SELECT ..."`: read-only SQL against the archive, for
//! people without an SQLite shell at hand.

use std::io::{BufWriter, Write};

use rusqlite::types::ValueRef;

use super::Ctx;
use crate::cli::{SqlArgs, SqlFormat};
use crate::exit::{self, UsageError};
use crate::output::{fmt_value, make_table};

fn cell_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => fmt_value(Some(r)),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()),
    }
}

fn cell_json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(r) => {
            serde_json::Number::from_f64(r).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => format!("<{} bytes>", b.len()).into(),
    }
}

pub fn run(ctx: &Ctx, args: SqlArgs) -> anyhow::Result<u8> {
    let (store, _) = ctx.open_read()?;
    let conn = store.conn();
    // nothing this command runs may change the archive
    conn.pragma_update(None, "query_only", true)?;
    let mut stmt = conn
        .prepare(&args.query)
        .map_err(|e| UsageError(format!("the SQL does not compile: {e}")))?;
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = stmt.query([])?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let width = names.len();
    let texts = |row: &rusqlite::Row<'_>| -> rusqlite::Result<Vec<String>> {
        (0..width).map(|i| row.get_ref(i).map(cell_text)).collect()
    };
    match args.format {
        SqlFormat::Table => {
            let mut table = Vec::new();
            while let Some(row) = rows.next()? {
                table.push(texts(row)?);
            }
            let header: Vec<&str> = names.iter().map(String::as_str).collect();
            writeln!(out, "{}", make_table(&header, table))?;
        }
        SqlFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(&names)?;
            while let Some(row) = rows.next()? {
                w.write_record(texts(row)?)?;
            }
            w.flush()?;
        }
        SqlFormat::Jsonl => {
            while let Some(row) = rows.next()? {
                let mut obj = serde_json::Map::new();
                for (i, n) in names.iter().enumerate() {
                    obj.insert(n.clone(), cell_json(row.get_ref(i)?));
                }
                serde_json::to_writer(&mut out, &obj)?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    Ok(exit::SUCCESS)
}
