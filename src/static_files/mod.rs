//! Static files: [`App::static_files`](crate::App::static_files) (a directory under a path
//! prefix) and [`App::static_file`](crate::App::static_file) (one file at one path).
//!
//! Owns the [`StaticFiles`] options and the core's side of a request: checking the path,
//! copying what the answer depends on off the request, handing the rest to the blocking pool and
//! awaiting its response. Nothing here touches the file system on a core. The parts, one file
//! each: `path.rs` (the request path into a relative path that cannot climb out), `open.rs`
//! (opening beneath the root, symlinks resolved by the kernel), `pool.rs` (the bounded threads
//! file system calls run on), `serve.rs` (one request on a pool thread), `conditional.rs`
//! (`ETag`, `Last-Modified` and the `If-*` headers), `range.rs` (`Range`), `encoding.rs`
//! (`Accept-Encoding` against `.br` and `.gz` siblings).
//!
//! What it does not own: routing (the `prefix/*` route is an ordinary `GET` route, which also
//! answers `HEAD`) and writing the response (the engine). It caches nothing: every request
//! opens the directory and its file, so a changed file (or a directory swapped behind a
//! symlink) is served changed at once, and the page cache is the kernel's.

mod conditional;
mod encoding;
mod open;
mod path;
mod pool;
mod range;
mod serve;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imphnen_engine::Response;

use crate::handler::Ctx;
use conditional::Conditions;
use path::{Refusal, Relative};

pub(crate) use pool::run_in_place_on_this_thread;

/// What to serve and how: a directory for [`App::static_files`](crate::App::static_files) or
/// a file for [`App::static_file`](crate::App::static_file), with options. A path converts into
/// it with the defaults.
///
/// What a client gets:
/// - `Content-Type` from the file name's extension (`mime_guess`; `; charset=utf-8` added to
///   text and JavaScript; `application/octet-stream` when unknown).
/// - `ETag` (strong, from length and modification time) and `Last-Modified`;
///   `If-None-Match` / `If-Modified-Since` answer `304`, `If-Match` / `If-Unmodified-Since`
///   `412`, in RFC 9110 §13.2.2's order.
/// - `Range` with one byte range: `206` and `Content-Range`; past the end `416` with
///   `Content-Range: bytes */len`; `If-Range` with a strong tag or the exact date. Several
///   ranges in one request get the whole file (`200`).
/// - `HEAD`: the same headers and `Content-Length`, no body, nothing read from the file.
/// - Precompressed siblings: with `Accept-Encoding: br` the file `app.js.br` is sent for
///   `app.js` when it exists (then `app.js.gz` for `gzip`), with `Content-Encoding` and the
///   original's content type; `Vary: Accept-Encoding` on every answer. Nothing is compressed on
///   the fly.
/// - A directory asked for with a trailing `/` serves its index file (`index.html` by default);
///   without the slash it is redirected (`301`) to it.
///
/// What the request path can never do: leave the directory. `..` and `.` segments (also as
/// `%2e%2e`), encoded separators (`%2f`, `%5c`), a raw `\`, empty segments (`//etc/passwd`)
/// and dotfiles (`.env`, `.git/`, unless [`dotfiles`](StaticFiles::dotfiles)) answer `404`; a NUL
/// (`%00`) or a broken `%` escape answers `400`; a symlink that leads outside the directory (or
/// any absolute symlink) answers `404`, checked by the kernel when the file is opened
/// (`openat2` with `RESOLVE_BENEATH`).
///
/// Files are opened and read on a process-wide pool of 4 threads with room for 1,024 waiting
/// requests (past that: `503` with `Retry-After: 1`), never on a core. A file is read whole
/// into memory per request, up to [`max_file_size`](StaticFiles::max_file_size); a bigger one is
/// served only in ranges of at most that size (a plain `GET` of it answers `500` and logs why).
///
/// ```
/// use imphnen::testing::TestServer;
/// use imphnen::{App, Config, StaticFiles};
///
/// # fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("imphnen-doc-files-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("docs"))?;
/// std::fs::write(dir.join("docs/guide.txt"), "read me")?;
///
/// let mut app = App::new(Config::default());
/// app.static_files(
///     "/files",
///     StaticFiles::new(&dir).no_index().cache_control("public, max-age=60"),
/// );
/// let server = TestServer::start(app)?;
///
/// let guide = server.get("/files/docs/guide.txt")?;
/// assert_eq!(guide.text(), "read me");
/// assert_eq!(guide.header("cache-control"), Some("public, max-age=60"));
/// assert!(guide.header("etag").is_some());
/// let head = server.request("HEAD", "/files/docs/guide.txt", b"")?;
/// assert_eq!(head.header("content-length"), Some("7"));
/// assert_eq!(server.get("/files/docs/")?.status, 404); // no index, no listing
/// assert_eq!(server.get("/files/docs/..%2f..%2fetc/passwd")?.status, 404);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StaticFiles {
    path: PathBuf,
    options: Options,
}

#[derive(Clone, Debug)]
pub(crate) struct Options {
    index: Option<String>,
    precompressed: bool,
    max_file_size: u64,
    dotfiles: bool,
    cache_control: Option<String>,
}

impl StaticFiles {
    /// Serves `path` (a directory, or a file for `static_file`) with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> StaticFiles {
        StaticFiles {
            path: path.into(),
            options: Options {
                index: Some("index.html".to_owned()),
                precompressed: true,
                max_file_size: 32 << 20,
                dotfiles: false,
                cache_control: None,
            },
        }
    }

    /// The file served for a directory asked for with a trailing `/`. Default `index.html`, as
    /// nginx, Bun and `serve-static` do.
    pub fn index(mut self, file_name: impl Into<String>) -> StaticFiles {
        self.options.index = Some(file_name.into());
        self
    }

    /// No index file: a directory answers `404` (there is never a listing).
    pub fn no_index(mut self) -> StaticFiles {
        self.options.index = None;
        self
    }

    /// Whether `.br` and `.gz` siblings are looked for (one extra `open` per accepted coding
    /// when they are absent). Default `true`: a build step that writes them costs nothing when
    /// it does not.
    pub fn precompressed(mut self, enabled: bool) -> StaticFiles {
        self.options.precompressed = enabled;
        self
    }

    /// The most bytes read into memory for one response. Default 32 MiB: above every usual web
    /// asset, and the bound on the memory one request takes (twice this while the response is
    /// written). A bigger file is served in ranges of at most this size (media players and
    /// download tools ask for ranges); a plain `GET` of it answers `500`.
    pub fn max_file_size(mut self, bytes: u64) -> StaticFiles {
        self.options.max_file_size = bytes.max(1);
        self
    }

    /// Whether names starting with `.` (`.env`, `.git/config`, `.well-known/`) are served.
    /// Default `false`: a directory of assets often holds such files by accident, and an ACME
    /// challenge or `security.txt` can be served by turning this on.
    pub fn dotfiles(mut self, served: bool) -> StaticFiles {
        self.options.dotfiles = served;
        self
    }

    /// A `Cache-Control` value sent with every file (e.g. `"public, max-age=31536000,
    /// immutable"` for fingerprinted assets). Default none: caches revalidate with the `ETag`.
    pub fn cache_control(mut self, value: impl Into<String>) -> StaticFiles {
        self.options.cache_control = Some(value.into());
        self
    }
}

impl From<&str> for StaticFiles {
    fn from(path: &str) -> StaticFiles {
        StaticFiles::new(path)
    }
}

impl From<String> for StaticFiles {
    fn from(path: String) -> StaticFiles {
        StaticFiles::new(path)
    }
}

impl From<&Path> for StaticFiles {
    fn from(path: &Path) -> StaticFiles {
        StaticFiles::new(path)
    }
}

impl From<PathBuf> for StaticFiles {
    fn from(path: PathBuf) -> StaticFiles {
        StaticFiles::new(path)
    }
}

/// Where a mount's files come from.
pub(crate) enum Source {
    /// A directory, opened at each request (so that swapping it, as a deploy that points a
    /// `current` symlink at a new release does, takes effect at once); the request's path is
    /// resolved beneath that descriptor.
    Directory(PathBuf),
    /// One file, opened by its path at each request.
    File(PathBuf),
}

/// A registered `static_files` or `static_file`: shared by every core's copy of the route.
pub(crate) struct Mount {
    source: Source,
    options: Options,
}

impl Mount {
    /// A directory mount. Checks now (at start-up) that the directory opens, and panics when it
    /// does not, as a misconfigured route does.
    pub(crate) fn directory(files: StaticFiles) -> Arc<Mount> {
        if let Err(e) = open::directory(&files.path) {
            panic!(
                "imphnen: cannot serve static files from {}: {e}",
                files.path.display()
            );
        }
        Arc::new(Mount {
            source: Source::Directory(files.path),
            options: files.options,
        })
    }

    /// A single-file mount. The file is opened at each request: it may appear later.
    pub(crate) fn file(files: StaticFiles) -> Arc<Mount> {
        Arc::new(Mount {
            source: Source::File(files.path),
            options: files.options,
        })
    }

    /// Answers one request: on the blocking pool, awaited on the core.
    pub(crate) fn serve(self: &Arc<Mount>, ctx: Ctx) -> impl Future<Output = Response> + use<> {
        let pending = self.queue(&ctx);
        async move {
            match pending {
                Err(answer) => answer,
                Ok(result) => result.await.unwrap_or_else(|_| {
                    tracing::error!("static file: the read panicked; answering 500");
                    Response::text("Internal Server Error").with_status(500)
                }),
            }
        }
    }

    fn queue(
        self: &Arc<Mount>,
        ctx: &Ctx,
    ) -> Result<futures_channel::oneshot::Receiver<Response>, Response> {
        let relative = match self.source {
            Source::File(_) => Relative {
                path: PathBuf::new(),
                trailing_slash: false,
            },
            Source::Directory(_) => {
                let params = ctx.params();
                let tail = params.raw("*").unwrap_or("");
                match path::relative(tail, self.options.dotfiles) {
                    // The wildcard matches `/assets/` with an empty tail: the slash is the
                    // path's.
                    Ok(relative) => Relative {
                        trailing_slash: relative.trailing_slash || ctx.path().ends_with('/'),
                        ..relative
                    },
                    Err(Refusal::Malformed) => {
                        return Err(Response::text("Bad Request").with_status(400));
                    }
                    Err(Refusal::NotServed) => {
                        return Err(Response::text("Not Found").with_status(404));
                    }
                }
            }
        };
        let header = |name: &str| ctx.header(name).map(str::to_owned);
        let target = match ctx.request().query() {
            Some(query) => format!("{}?{query}", ctx.path()),
            None => ctx.path().to_owned(),
        };
        let job = serve::Job {
            mount: Arc::clone(self),
            relative,
            head: ctx.method() == "HEAD",
            target,
            conditions: Conditions {
                if_match: header("if-match"),
                if_none_match: header("if-none-match"),
                if_modified_since: header("if-modified-since"),
                if_unmodified_since: header("if-unmodified-since"),
                if_range: header("if-range"),
            },
            range: header("range"),
            codings: if self.options.precompressed {
                encoding::accepted(ctx.header("accept-encoding"))
            } else {
                Vec::new()
            },
        };
        pool::run(move || serve::serve(job)).map_err(|pool::Busy| {
            Response::text("Service Unavailable")
                .with_status(503)
                .with_header("retry-after", "1")
        })
    }
}
