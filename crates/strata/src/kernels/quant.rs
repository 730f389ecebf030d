//! tmp
use super::RunOptions;
use crate::error::{Error, Result};
use crate::recording::{Operand, Recording};
pub(crate) fn record_gemv(
    _r: &mut Recording<'_>,
    _p: &[(Operand<'_>, u32, u32)],
    _x: Operand<'_>,
    _y: Operand<'_>,
    _s: super::GemvSpec,
    _o: RunOptions,
) -> Result<String> {
    Err(Error::InvalidArgument("tmp".into()))
}
