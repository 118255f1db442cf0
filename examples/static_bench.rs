//! The server side of `benches/static_files.py`: the same directory served three ways, next to
//! an unrelated route whose latency shows whether the core was kept waiting.
//!
//! - `GET /ping`: `pong`, the unrelated route.
//! - `GET /pool/*`: `app.static_files`, which opens and reads on the blocking pool.
//! - `GET /monoio/*`: the file read on the core with monoio's `fs` (asynchronous on its io_uring
//!   driver, a plain system call on its legacy one).
//! - `GET /core/*`: the file read on the core with `std::fs::read`, what a handler that blocks
//!   does (the baseline the other two are measured against).
//!
//! `STATIC_DIR` (the directory, required), `PORT` (default 3000), `WORKERS` (default: every
//! core) and `RUST_LOG` come from the environment. Not a way to serve files: `/core` and
//! `/monoio` check nothing about the path.

#[path = "support/mod.rs"]
mod support;

use imphnen::{App, Config, Ctx, Response};

fn main() -> std::io::Result<()> {
    support::init_tracing();
    let dir = std::env::var("STATIC_DIR").map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "STATIC_DIR is required")
    })?;
    let mut app = App::new(Config::from_env());
    app.get("/ping", |_ctx: Ctx| "pong");
    app.static_files("/pool", dir.as_str());
    let core_dir = std::path::PathBuf::from(&dir);
    app.get("/core/*", move |ctx: Ctx| {
        let name = ctx.param("*").unwrap_or_default().into_owned();
        match std::fs::read(core_dir.join(name)) {
            Ok(bytes) => Response::new(200).with_body(bytes),
            Err(_) => Response::new(404),
        }
    });
    let monoio_dir = std::path::PathBuf::from(&dir);
    app.get("/monoio/*", move |ctx: Ctx| {
        let path = monoio_dir.join(ctx.param("*").unwrap_or_default().as_ref());
        async move {
            let Ok(file) = monoio::fs::File::open(&path).await else {
                return Response::new(404);
            };
            let Ok(meta) = file.metadata().await else {
                return Response::new(500);
            };
            let (read, buf) = file
                .read_exact_at(Vec::with_capacity(meta.len() as usize), 0)
                .await;
            let _ = file.close().await;
            match read {
                Ok(()) => Response::new(200).with_body(buf),
                Err(_) => Response::new(500),
            }
        }
    });
    let server = support::listen(&app, "127.0.0.1")?;
    println!("static_bench listening on {}", server.local_addr());
    server.wait_for_shutdown_signal()
}
