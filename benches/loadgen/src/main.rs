//! `imphnen-loadgen`: an independent WebSocket load generator (echo, broadcast, connect,
//! idle, smoke) with its own client-side RFC 6455 code, one epoll loop per thread.
//!
//! This file owns the entry point only: parse options, run the mode, print and write the
//! report, choose the exit code.

mod args;
mod conn;
mod control;
mod frame;
mod handshake;
mod mode;
mod net;
mod pacer;
mod procstat;
mod reader;
mod report;
mod tls;
mod transport;

use std::process::ExitCode;

use args::{Args, Mode, USAGE};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args_os().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("imphnen-loadgen: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.mode {
        Mode::Echo => mode::echo::run(&args),
        Mode::Broadcast => mode::broadcast::run(&args),
        Mode::Connect => mode::connect::run(&args),
        Mode::Idle => mode::idle::run(&args),
        Mode::Smoke => return mode::smoke::run(&args),
        Mode::Reflect => return mode::reflect::run(&args),
    };
    match result {
        Ok(report) => {
            report.print();
            if let Some(path) = &args.json
                && let Err(e) = report.write_json(path)
            {
                eprintln!("imphnen-loadgen: {e}");
                return ExitCode::FAILURE;
            }
            if report.clean() {
                ExitCode::SUCCESS
            } else {
                eprintln!("imphnen-loadgen: verification failed or no traffic");
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("imphnen-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
