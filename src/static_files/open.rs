//! Opening a checked relative path beneath the served directory, on a blocking-pool thread.
//!
//! Owns the guarantee that no symlink leads out of the root: `openat2(2)` with
//! `RESOLVE_BENEATH` (Linux 5.6) lets the kernel resolve the path relative to the root's
//! descriptor and fail with `EXDEV` the moment a `..` or a symlink (relative or absolute) would
//! leave it, and refuse absolute symlinks; relative symlinks that stay inside still work. On an
//! older kernel (`ENOSYS`) every segment is opened with `O_NOFOLLOW` instead, so no symlink is
//! followed at all. Every open is `O_NONBLOCK`, so a FIFO planted in the tree cannot hold a pool
//! thread. It does not own the lexical check of the request path (`path.rs`), which refuses `..`
//! before anything is opened.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once `openat2` answered `ENOSYS`: later opens go straight to the fallback.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens the served directory itself (`O_PATH`: a handle to resolve beneath, not to read).
pub(crate) fn directory(path: &Path) -> io::Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    Ok(dir.into())
}

/// Opens `relative` (already checked by `path::relative`) for reading, beneath `root`. An empty
/// path opens the root itself.
pub(crate) fn beneath(root: &OwnedFd, relative: &Path) -> io::Result<File> {
    let name = if relative.as_os_str().is_empty() {
        CString::new(".")
    } else {
        CString::new(relative.as_os_str().as_bytes())
    }
    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        match openat2_beneath(root.as_raw_fd(), &name) {
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                NO_OPENAT2.store(true, Ordering::Relaxed);
            }
            other => return other,
        }
    }
    nofollow_walk(root, relative)
}

fn openat2_beneath(dir: RawFd, name: &CString) -> io::Result<File> {
    // SAFETY: `open_how` is three integers (non-exhaustive only for future fields), for which
    // all zeroes is valid and means "nothing asked".
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `name` is a NUL-terminated string and `how` a valid `open_how` whose size is
    // passed along; the kernel reads both during the call only.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd as RawFd) })
}

/// The fallback for kernels without `openat2`: one `openat` per segment, never following a
/// symlink (`ELOOP`), never leaving the directories opened so far.
fn nofollow_walk(root: &OwnedFd, relative: &Path) -> io::Result<File> {
    let mut dir: Option<OwnedFd> = None;
    let mut segments = relative.iter().peekable();
    if segments.peek().is_none() {
        return openat_nofollow(root.as_raw_fd(), c".").map(File::from);
    }
    while let Some(segment) = segments.next() {
        let name = CString::new(segment.as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let at = dir.as_ref().unwrap_or(root).as_raw_fd();
        let fd = openat_nofollow(at, &name)?;
        if segments.peek().is_none() {
            return Ok(File::from(fd));
        }
        dir = Some(fd);
    }
    unreachable!("the loop returns at the last segment")
}

fn openat_nofollow(dir: RawFd, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the flags open read-only and create nothing.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether an open failed because there is nothing the client may have there (answered `404`),
/// rather than a fault of the server (`500`, logged).
pub(crate) fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ENOENT
                | libc::ENOTDIR
                | libc::EXDEV
                | libc::ELOOP
                | libc::EACCES
                | libc::EPERM
                | libc::ENAMETOOLONG
                | libc::EINVAL
                | libc::ENXIO
        )
    )
}
