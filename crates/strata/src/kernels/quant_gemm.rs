//! tmp
use super::RunOptions;
use crate::error::{Error, Result};
use crate::recording::{Operand, Recording};
pub(crate) fn record(
    _r: &mut Recording<'_>,
    _a: Operand<'_>,
    _b: Operand<'_>,
    _c: Operand<'_>,
    _s: super::GemmSpec,
    _o: RunOptions,
) -> Result<String> {
    Err(Error::InvalidArgument("tmp".into()))
}
