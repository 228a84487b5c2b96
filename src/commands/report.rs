//! `rtc-archiver report` (being written).

use super::Ctx;
use crate::cli::ReportArgs;
use crate::exit::UsageError;

pub fn run(_ctx: &Ctx, _args: ReportArgs) -> anyhow::Result<u8> {
    Err(UsageError("`report` is not built yet".into()).into())
}
