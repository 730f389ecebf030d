//! `strata-validation-scan LOG...`: the validation layer's messages in printed logs, found by
//! `strata::validation::messages_in` (the detector every test uses). Prints each message and
//! exits 1 when there is any, 2 when a log cannot be read, 0 otherwise. `scripts/test.sh` runs
//! the examples under the layer and scans their output with it.

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: strata-validation-scan LOG...");
        return ExitCode::from(2);
    }
    let mut found = 0usize;
    for path in &paths {
        let log = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                eprintln!("strata-validation-scan: {path}: {e}");
                return ExitCode::from(2);
            }
        };
        for message in strata::validation::messages_in(&log) {
            println!("{path}: {message}");
            found += 1;
        }
    }
    if found > 0 {
        eprintln!("strata-validation-scan: {found} validation-layer message(s)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
