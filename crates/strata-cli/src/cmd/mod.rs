//! One file per subcommand.

pub mod info;
pub mod matmul;
