//! The context of the library's own tests that need a GPU: lavapipe where there is none.

use crate::context::Context;

/// A context for `test`, or `None` with a loud notice when no adapter is found. In CI (`CI`
/// set) a missing adapter fails the test: lavapipe is always there.
pub(crate) fn gpu(test: &str) -> Option<Context> {
    match Context::new() {
        Ok(ctx) => Some(ctx),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("{test}: no GPU adapter in CI (lavapipe is expected): {error}")
        }
        Err(error) => {
            eprintln!("\n*** {test}: NOT RUN: no GPU adapter ({error}) ***\n");
            None
        }
    }
}
