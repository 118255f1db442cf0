//! One static-file request, answered on a blocking-pool thread: open, pick the representation,
//! check the preconditions and the range, read the bytes, build the response.
//!
//! Owns the order of those steps and the headers of the answer. Everything here may block (it
//! runs on `pool.rs`'s threads, never on a core). It does not own the lexical path check
//! (`path.rs`), opening beneath the root (`open.rs`), or the header grammars (`conditional.rs`,
//! `range.rs`, `encoding.rs`).

use std::fs::{File, Metadata};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imphnen_engine::Response;

use super::conditional::{self, Conditions, Outcome, Validators};
use super::encoding::Coding;
use super::path::Relative;
use super::range::{self, Ranged};
use super::{Mount, Source, open};

/// What the core copied off the request for the pool thread.
pub(crate) struct Job {
    pub(crate) mount: Arc<Mount>,
    /// The checked path beneath the root (unused for a single file).
    pub(crate) relative: Relative,
    /// `HEAD`: headers only, nothing read.
    pub(crate) head: bool,
    /// The request path and query, for the redirect of a directory to its `/` form.
    pub(crate) target: String,
    pub(crate) conditions: Conditions,
    pub(crate) range: Option<String>,
    pub(crate) codings: Vec<Coding>,
}

/// The file chosen to answer with.
struct Chosen {
    file: File,
    meta: Metadata,
    coding: Option<Coding>,
}

/// Answers `job`.
pub(crate) fn serve(job: Job) -> Response {
    let root = match &job.mount.source {
        Source::File(_) => None,
        Source::Directory(dir) => match open::directory(dir) {
            Ok(root) => Some(root),
            Err(e) => {
                // It opened at start-up: it was removed or replaced by something else since.
                tracing::error!(error = %e, dir = %dir.display(), "static files: cannot open the directory; answering 500");
                return Response::text("Internal Server Error").with_status(500);
            }
        },
    };
    let root = root.as_ref();
    let (path, file, meta) = match open_target(&job, root) {
        Ok(Target::File(path, file, meta)) => (path, file, meta),
        Ok(Target::Redirect(location)) => {
            return Response::new(301).with_header("location", location);
        }
        Err(e) if open::is_absent(&e) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, path = %job.relative.path.display(), "static file: cannot open; answering 500");
            return Response::text("Internal Server Error").with_status(500);
        }
    };
    let content_type = content_type(&path);
    let chosen = choose_coding(&job, root, &path).unwrap_or(Chosen {
        file,
        meta,
        coding: None,
    });
    let modified = chosen.meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    let len = chosen.meta.len();
    let validators = Validators::new(len, modified, chosen.coding.map(Coding::token));

    let mut head = Response::new(200)
        .with_header("etag", validators.etag.clone())
        .with_header("last-modified", validators.http_date());
    if job.mount.options.precompressed {
        head = head.with_header("vary", "Accept-Encoding");
    }
    if let Some(cache_control) = &job.mount.options.cache_control {
        head = head.with_header("cache-control", cache_control.clone());
    }
    match conditional::evaluate(&job.conditions, &validators) {
        Outcome::Proceed => {}
        Outcome::NotModified => return head.with_status(304),
        Outcome::Failed => return head.with_status(412),
    }
    head = head
        .with_header("content-type", content_type)
        .with_header("accept-ranges", "bytes");
    if let Some(coding) = chosen.coding {
        head = head.with_header("content-encoding", coding.token());
    }

    // §14.2: Range applies to GET only; HEAD gets the whole representation's headers.
    let ranged = match &job.range {
        Some(range) if !job.head && conditional::range_applies(&job.conditions, &validators) => {
            range::resolve(range, len)
        }
        _ => Ranged::Whole,
    };
    let max = job.mount.options.max_file_size;
    let (status, first, count) = match ranged {
        Ranged::Unsatisfiable => {
            return head
                .with_status(416)
                .with_header("content-range", format!("bytes */{len}"));
        }
        Ranged::Whole if job.head => return head.with_head_length(len),
        Ranged::Whole if len > max => {
            tracing::warn!(
                path = %path.display(), len, max_file_size = max,
                "static file larger than max_file_size asked for whole; answering 500 (ranges of it are served)"
            );
            return Response::text("Internal Server Error").with_status(500);
        }
        Ranged::Whole => (200, 0, len),
        // A part longer than the bound is shortened: Content-Range says what was sent, and
        // clients ask for the rest (§14.2 lets a server send fewer bytes than asked).
        Ranged::Part { first, last } => (206, first, (last - first + 1).min(max)),
    };
    let mut body = vec![0u8; count as usize];
    if let Err(e) = chosen.file.read_exact_at(&mut body, first) {
        // The file shrank between `fstat` and the read, or the disk failed.
        tracing::error!(error = %e, path = %path.display(), "static file: read failed; answering 500");
        return Response::text("Internal Server Error").with_status(500);
    }
    if status == 206 {
        head = head.with_header(
            "content-range",
            format!("bytes {first}-{}/{len}", first + count - 1),
        );
    }
    head.with_status(status).with_body(body)
}

enum Target {
    /// The file to serve (its path names the original, for the content type), open.
    File(PathBuf, File, Metadata),
    /// A directory asked for without its trailing `/`: where its index is.
    Redirect(String),
}

/// Opens what the request names: the mount's file, or a path beneath `root` (the directory's
/// descriptor, opened for this request).
fn open_target(job: &Job, root: Option<&OwnedFd>) -> io::Result<Target> {
    let options = &job.mount.options;
    let (root, relative) = match (&job.mount.source, root) {
        (Source::Directory(_), Some(root)) => (root, &job.relative),
        (Source::File(path), _) | (Source::Directory(path), None) => {
            let file = open_file(path)?;
            let meta = file.metadata()?;
            if !meta.is_file() {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            return Ok(Target::File(path.clone(), file, meta));
        }
    };
    let file = open::beneath(root, &relative.path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        if relative.trailing_slash {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        return Ok(Target::File(relative.path.clone(), file, meta));
    }
    let Some(index) = options.index.as_deref().filter(|_| meta.is_dir()) else {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    };
    if !relative.trailing_slash {
        // Relative links in the index resolve against the directory only with the slash.
        let (path, query) = job.target.split_once('?').unwrap_or((&job.target, ""));
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        return Ok(Target::Redirect(format!("{path}/{query}")));
    }
    let index_path = relative.path.join(index);
    let file = open::beneath(root, &index_path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    Ok(Target::File(index_path, file, meta))
}

/// The first precompressed sibling the client accepts that exists as a regular file.
fn choose_coding(job: &Job, root: Option<&OwnedFd>, path: &Path) -> Option<Chosen> {
    if !job.mount.options.precompressed {
        return None;
    }
    job.codings.iter().find_map(|&coding| {
        let mut name = path.as_os_str().to_owned();
        name.push(coding.suffix());
        let file = match root {
            None => open_file(Path::new(&name)).ok()?,
            Some(root) => open::beneath(root, Path::new(&name)).ok()?,
        };
        let meta = file.metadata().ok()?;
        meta.is_file().then_some(Chosen {
            file,
            meta,
            coding: Some(coding),
        })
    })
}

/// Opens a configured file (not a request path): symlinks are followed, as the program named
/// it. `O_NONBLOCK` so that a FIFO in its place cannot hold the thread.
fn open_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// `Content-Type` from the extension; text gets `charset=utf-8`, the unknown
/// `application/octet-stream`.
fn content_type(path: &Path) -> String {
    let Some(mime) = mime_guess::from_path(path).first() else {
        return "application/octet-stream".to_owned();
    };
    let textual =
        mime.type_() == mime_guess::mime::TEXT || mime.essence_str() == "application/javascript";
    if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.to_string()
    }
}

fn not_found() -> Response {
    Response::text("Not Found").with_status(404)
}
