//! `rtc-archiver export` (being written).

use super::Ctx;
use crate::cli::ExportArgs;
use crate::exit::UsageError;

pub fn run(_ctx: &Ctx, _args: ExportArgs) -> anyhow::Result<u8> {
    Err(UsageError("`export` is not built yet".into()).into())
}
