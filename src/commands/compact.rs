//! `rtc-archiver compact`: rewrite the archive with full pages.
//!
//! SQLite leaves B-tree pages that rows were appended to one at a time
//! 85–90% full; `VACUUM` packs them. It holds the write lock while it runs,
//! so it takes the collector's lock first: with a collector running it exits
//! 75 and changes nothing.

use super::{Ctx, check_store, open_store};
use crate::store::{OpenMode, Store};
use crate::{exit, lock};

/// Compacts an open archive, printing what it gained.
pub fn compact(store: &mut Store) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let points = store.point_count()?;
    let (before, after) = store.compact()?;
    let per_point = |bytes: u64| {
        if points > 0 {
            format!(" ({:.2} bytes per point)", bytes as f64 / points as f64)
        } else {
            String::new()
        }
    };
    eprintln!(
        "rtc-archiver: compacted {} from {:.1} MB{} to {:.1} MB{} in {:.1} s",
        store.path().display(),
        before as f64 / 1e6,
        per_point(before),
        after as f64 / 1e6,
        per_point(after),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn run(ctx: &Ctx) -> anyhow::Result<u8> {
    let (db, _) = ctx.read_target()?;
    check_store(&db, OpenMode::Existing)?;
    let _lock = lock::acquire(&db)?;
    let mut store = open_store(&db, OpenMode::Existing)?;
    compact(&mut store)?;
    Ok(exit::SUCCESS)
}
