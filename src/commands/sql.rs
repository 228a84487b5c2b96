//! `rtc-archiver sql "SELECT ..."`: read-only SQL against the archive, for
//! people without an SQLite shell at hand.
//!
//! Read-only three times over: the file is opened read-only, the connection
//! is `query_only`, and an authorizer lets through only reads, functions and
//! pragmas that read; a statement SQLite itself calls a writer (`VACUUM`,
//! `VACUUM INTO`) is refused before it runs, and so is a second statement.

use std::io::{BufWriter, Read};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;

use super::Ctx;
use crate::cli::SqlArgs;
use crate::exit::{self, UsageError};
use crate::output::{Cell, Format, RecordWriter, fmt_value_text};
use crate::store::{StoreError, sqlite_message};

/// Pragmas that only read, as `PRAGMA name` without a value.
const READ_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "cache_size",
    "collation_list",
    "compile_options",
    "data_version",
    "database_list",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "function_list",
    "journal_mode",
    "module_list",
    "page_count",
    "page_size",
    "pragma_list",
    "schema_version",
    "synchronous",
    "user_version",
];

/// Pragmas whose argument names what to read (a table, an index, a row
/// limit), never a new setting; also allowed without one.
const READ_PRAGMAS_WITH_ARGUMENT: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// What `sql` lets through, judged as SQLite prepares the statement: reads,
/// functions and pragmas that read. Anything else is named for the error.
fn judge(action: &AuthAction<'_>) -> Result<(), String> {
    match *action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Ok(()),
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let reads = READ_PRAGMAS_WITH_ARGUMENT.contains(&name.as_str())
                || (pragma_value.is_none() && READ_PRAGMAS.contains(&name.as_str()));
            match pragma_value {
                _ if reads => Ok(()),
                Some(value) => Err(format!("PRAGMA {pragma_name} = {value}")),
                None => Err(format!("PRAGMA {pragma_name}")),
            }
        }
        // what CREATE and DROP write first
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            Err("a change to the schema".into())
        }
        AuthAction::Insert { table_name } => Err(format!("INSERT INTO {table_name}")),
        AuthAction::Update { table_name, .. } => Err(format!("UPDATE {table_name}")),
        AuthAction::Delete { table_name } => Err(format!("DELETE FROM {table_name}")),
        AuthAction::Attach { .. } => Err("ATTACH".into()),
        AuthAction::Detach { .. } => Err("DETACH".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Err("a transaction".into())
        }
        AuthAction::Analyze { .. } => Err("ANALYZE".into()),
        AuthAction::Reindex { .. } => Err("REINDEX".into()),
        AuthAction::AlterTable { table_name, .. } => Err(format!("ALTER TABLE {table_name}")),
        AuthAction::CreateIndex { .. }
        | AuthAction::CreateTable { .. }
        | AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. }
        | AuthAction::CreateTrigger { .. }
        | AuthAction::CreateView { .. }
        | AuthAction::CreateVtable { .. } => Err("CREATE".into()),
        AuthAction::DropIndex { .. }
        | AuthAction::DropTable { .. }
        | AuthAction::DropTempIndex { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropTempView { .. }
        | AuthAction::DropTrigger { .. }
        | AuthAction::DropView { .. }
        | AuthAction::DropVtable { .. } => Err("DROP".into()),
        _ => Err("this statement".into()),
    }
}

/// The error for SQL that would change something.
fn read_only(what: &str) -> UsageError {
    UsageError(format!(
        "sql is read-only: {what} is not allowed; use an SQLite shell on a copy \
         (rtc-archiver backup) to change things"
    ))
}

/// What the authorizer saw while the statement was prepared and run.
#[derive(Default)]
struct Seen {
    /// The first action it refused.
    denied: Option<String>,
    /// Whether it let a pragma through (SQLite counts `PRAGMA journal_mode`
    /// as a writer even when it only asks).
    read_pragma: bool,
}

/// The longest SQL read from standard input (`sql -`).
const MAX_SQL_BYTES: u64 = 1 << 20;

/// The SQL to run: the argument, or with `-` standard input.
fn sql_text(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut text = String::new();
    std::io::stdin()
        .lock()
        .take(MAX_SQL_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            UsageError(format!(
                "sql -: cannot read the SQL from standard input: {e}"
            ))
        })?;
    if text.len() as u64 > MAX_SQL_BYTES {
        return Err(UsageError(format!(
            "sql -: the SQL on standard input is longer than {} MiB",
            MAX_SQL_BYTES >> 20
        ))
        .into());
    }
    if text.trim().is_empty() {
        return Err(UsageError("sql -: standard input holds no SQL".into()).into());
    }
    Ok(text)
}

fn cell(v: ValueRef<'_>) -> Cell {
    Cell {
        text: cell_text(v),
        json: cell_json(v),
    }
}

fn cell_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        // for people: no float noise (JSON keeps the exact value)
        ValueRef::Real(r) => fmt_value_text(Some(r)),
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
    let sql = sql_text(&args.query)?;
    let (mut store, _) = ctx.open_read()?;
    // nothing this command runs may change the archive
    store.conn().pragma_update(None, "query_only", true)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let hook_seen = seen.clone();
    store
        .conn_mut()
        .authorizer(Some(move |auth: AuthContext<'_>| {
            let mut seen = hook_seen.lock().unwrap_or_else(|e| e.into_inner());
            match judge(&auth.action) {
                Ok(()) => {
                    seen.read_pragma |= matches!(auth.action, AuthAction::Pragma { .. });
                    Authorization::Allow
                }
                Err(what) => {
                    seen.denied.get_or_insert(what);
                    Authorization::Deny
                }
            }
        }))?;
    let denied = || {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .denied
            .clone()
    };
    let conn = store.conn();
    let mut stmt = conn.prepare(&sql).map_err(|e| match (&e, denied()) {
        (_, Some(what)) => read_only(&what),
        (rusqlite::Error::MultipleStatement, None) => UsageError(
            "sql runs one statement, and this SQL holds more: run them one at a time".into(),
        ),
        (_, None) => UsageError(format!("the SQL does not compile: {}", sqlite_message(&e))),
    })?;
    let asks_a_pragma = seen.lock().unwrap_or_else(|e| e.into_inner()).read_pragma;
    if !stmt.readonly() && !asks_a_pragma {
        let first = sql.split_whitespace().next().unwrap_or_default();
        return Err(read_only(&first.to_ascii_uppercase()).into());
    }
    // a refusal while running (a pragma function asked to set something)
    let fail = |e: rusqlite::Error| -> anyhow::Error {
        match denied() {
            Some(what) => read_only(&what).into(),
            None => StoreError::from(e).into(),
        }
    };
    let names: Vec<String> = stmt.column_names().map(String::from).collect();
    let width = names.len();
    let mut rows = stmt.query([]).map_err(fail)?;
    let format = args.format.unwrap_or_else(Format::default_for_stdout);
    let out = BufWriter::new(std::io::stdout().lock());
    let mut out = RecordWriter::new(format, names, out)?;
    while let Some(row) = rows.next().map_err(fail)? {
        let cells = (0..width)
            .map(|i| row.get_ref(i).map(cell))
            .collect::<rusqlite::Result<Vec<Cell>>>()?;
        out.write(cells)?;
    }
    out.finish()?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_lets_through_only_what_reads() {
        let pragma = |name, value| AuthAction::Pragma {
            pragma_name: name,
            pragma_value: value,
        };
        let allowed = [
            AuthAction::Select,
            AuthAction::Read {
                table_name: "points",
                column_name: "value",
            },
            AuthAction::Function {
                function_name: "avg",
            },
            AuthAction::Recursive,
            pragma("user_version", None),
            pragma("JOURNAL_MODE", None),
            pragma("table_info", Some("points")),
            pragma("index_list", Some("points")),
            pragma("integrity_check", None),
        ];
        for a in &allowed {
            assert_eq!(judge(a), Ok(()), "{a:?}");
        }
        let denied = [
            (
                pragma("journal_mode", Some("DELETE")),
                "PRAGMA journal_mode = DELETE",
            ),
            (pragma("user_version", Some("0")), "PRAGMA user_version = 0"),
            (pragma("wal_checkpoint", None), "PRAGMA wal_checkpoint"),
            (pragma("optimize", None), "PRAGMA optimize"),
            (
                pragma("writable_schema", Some("1")),
                "PRAGMA writable_schema = 1",
            ),
            (
                AuthAction::Delete {
                    table_name: "points",
                },
                "DELETE FROM points",
            ),
            (
                AuthAction::Insert {
                    table_name: "points",
                },
                "INSERT INTO points",
            ),
            (AuthAction::Attach { filename: "x.db" }, "ATTACH"),
            (AuthAction::Detach { database_name: "x" }, "DETACH"),
            (AuthAction::CreateTempTable { table_name: "t" }, "CREATE"),
            (
                AuthAction::Insert {
                    table_name: "sqlite_master",
                },
                "a change to the schema",
            ),
        ];
        for (a, what) in &denied {
            assert_eq!(judge(a), Err(what.to_string()), "{a:?}");
        }
    }
}
