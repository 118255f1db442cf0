//! `smoke`: a short verified echo at several shapes (text and binary, empty, small,
//! 16-bit and 64-bit lengths) for CI. Exits non-zero on any mismatch, protocol error or a
//! case that echoed nothing; it checks correctness, not speed.

use std::process::ExitCode;
use std::time::Duration;

use crate::args::Args;
use crate::mode::echo;

/// (connections, payload bytes, binary, in flight) of each case.
const CASES: [(usize, usize, bool, usize); 5] = [
    (8, 20, false, 4),
    (4, 0, false, 1),
    (8, 20, true, 16),
    (8, 16 * 1024, true, 2),
    (2, 70_000, true, 1),
];

/// Runs every case against `args.target` and reports pass/fail through the exit code.
pub fn run(args: &Args) -> ExitCode {
    let mut failed = 0;
    for (connections, size, binary, inflight) in CASES {
        let case = Args {
            connections,
            size,
            binary,
            inflight,
            threads: args.threads.min(connections),
            warmup: Duration::ZERO,
            quiet: true,
            rate: None,
            ..args.clone()
        };
        let kind = if binary { "binary" } else { "text" };
        let label = format!("{connections} conns x {size} B {kind}, {inflight} in flight");
        match echo::run(&case) {
            Ok(r) if r.clean() && r.messages > 0 => {
                println!(
                    "ok    {label}: {} echoes verified ({:.0}/s)",
                    r.messages, r.msgs_per_s
                );
            }
            Ok(r) => {
                failed += 1;
                let why = r
                    .first_problem
                    .unwrap_or_else(|| "no echo in the window".into());
                println!(
                    "FAIL  {label}: {} echoes, {} mismatches: {why}",
                    r.messages, r.mismatches
                );
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {label}: {e}");
            }
        }
    }
    if failed == 0 {
        println!("smoke: {} passed, 0 failed", CASES.len());
        ExitCode::SUCCESS
    } else {
        println!("smoke: {} passed, {failed} failed", CASES.len() - failed);
        ExitCode::FAILURE
    }
}
