//! `rtc-archiver import` (being written).

use super::Ctx;
use crate::cli::ImportArgs;
use crate::exit::UsageError;

pub fn run(_ctx: &Ctx, _args: ImportArgs) -> anyhow::Result<u8> {
    Err(UsageError("`import` is not built yet".into()).into())
}
