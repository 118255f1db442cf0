//! `app.static_files` and `app.static_file` seen by curl and by raw TCP (so that no client
//! normalises a hostile path before it is sent): content types, validators and `304`, byte
//! ranges (`206`, `416`, `If-Range`), `HEAD`, precompressed siblings, index files, every form of
//! path traversal, and symlinks out of the root. Each test builds its files in a temporary
//! directory whose parent holds a `secret.txt` that no request may reach.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use imphnen::{App, Config, StaticFiles};

const SECRET: &str = "the secret outside the root";

/// A temporary tree: `<tmp>/secret.txt` and the served root `<tmp>/public/`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir(dir.path().join("public")).unwrap();
        Tree { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("public")
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> &Tree {
        let path = self.root().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }
}

fn serve(files: impl Into<StaticFiles>) -> imphnen::Server {
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.static_files("/assets", files);
    app.listen("127.0.0.1:0").expect("listen")
}

/// A response read off the wire.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method target` with `headers` and `Connection: close` byte for byte, and reads the
/// whole answer (the server closes after it).
fn raw(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Raw {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the server closes after the answer");
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&answer)));
    let head = std::str::from_utf8(&answer[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    Raw {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, target: &str) -> Raw {
    raw(addr, "GET", target, &[])
}

/// curl's answer to `args` + the URL of `path`: status, the last head as curl wrote it
/// (lowercased), and the body.
fn curl(addr: SocketAddr, path: &str, args: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "-o", "-", "-D"])
        .arg(&head)
        .args(args)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl failed: {out:?}");
    let heads = std::fs::read_to_string(head).unwrap();
    // After redirects (-L) curl writes every head; the last one is the answer's.
    let head = &heads[heads.rfind("HTTP/").unwrap()..];
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), out.stdout)
}

#[test]
fn content_types_follow_the_extension() {
    let tree = Tree::new();
    for name in [
        "page.html",
        "site.css",
        "app.js",
        "data.json",
        "logo.png",
        "blob.unknownext",
    ] {
        tree.file(name, "x");
    }
    let server = serve(tree.root());
    let addr = server.local_addr();
    for (name, expected) in [
        ("page.html", "text/html; charset=utf-8"),
        ("site.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("data.json", "application/json"),
        ("logo.png", "image/png"),
        ("blob.unknownext", "application/octet-stream"),
    ] {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{content_type}",
            ])
            .arg(format!("http://{addr}/assets/{name}"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("200 {expected}"),
            "{name}"
        );
    }
}

#[test]
fn a_file_is_served_whole_with_its_validators() {
    let tree = Tree::new();
    tree.file("css/site.css", "body { color: teal }");
    let server = serve(tree.root());
    let res = get(server.local_addr(), "/assets/css/site.css");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"body { color: teal }");
    assert_eq!(res.header("content-length"), Some("20"));
    assert_eq!(res.header("accept-ranges"), Some("bytes"));
    assert!(res.header("etag").unwrap().starts_with('"'), "{res:?}");
    let modified = std::fs::metadata(tree.root().join("css/site.css"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        res.header("last-modified"),
        Some(httpdate::fmt_http_date(modified).as_str())
    );
}

#[test]
fn curl_revalidating_with_the_saved_etag_gets_304() {
    let tree = Tree::new();
    tree.file("app.js", "console.log(1)");
    let server = serve(tree.root());
    let dir = tempfile::tempdir().unwrap();
    let etag = dir.path().join("etag");
    let etag = etag.to_str().unwrap();
    let (status, _, body) = curl(
        server.local_addr(),
        "/assets/app.js",
        &["--etag-save", etag],
    );
    assert_eq!((status, body.as_slice()), (200, &b"console.log(1)"[..]));
    let (status, head, body) = curl(
        server.local_addr(),
        "/assets/app.js",
        &["--etag-compare", etag],
    );
    assert_eq!(status, 304, "{head}");
    assert!(body.is_empty());
    assert!(head.contains("etag: \""), "{head}");

    // The file changes: the saved tag no longer matches.
    std::thread::sleep(Duration::from_millis(20));
    tree.file("app.js", "console.log(22)");
    let (status, _, body) = curl(
        server.local_addr(),
        "/assets/app.js",
        &["--etag-compare", etag],
    );
    assert_eq!((status, body.as_slice()), (200, &b"console.log(22)"[..]));
}

#[test]
fn if_modified_since_gets_304_unless_if_none_match_differs() {
    let tree = Tree::new();
    tree.file("a.txt", "hello");
    let server = serve(tree.root());
    let addr = server.local_addr();
    let first = get(addr, "/assets/a.txt");
    let date = first.header("last-modified").unwrap().to_owned();

    // curl -z sends If-Modified-Since.
    let (status, _, body) = curl(addr, "/assets/a.txt", &["-z", &date]);
    assert_eq!(status, 304);
    assert!(body.is_empty());

    let earlier = "Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(
        raw(
            addr,
            "GET",
            "/assets/a.txt",
            &[("If-Modified-Since", earlier)]
        )
        .status,
        200
    );
    // RFC 9110 §13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    let both = raw(
        addr,
        "GET",
        "/assets/a.txt",
        &[("If-None-Match", "\"other\""), ("If-Modified-Since", &date)],
    );
    assert_eq!((both.status, both.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn if_match_with_another_etag_answers_412() {
    let tree = Tree::new();
    tree.file("a.txt", "hello");
    let server = serve(tree.root());
    let addr = server.local_addr();
    let etag = get(addr, "/assets/a.txt")
        .header("etag")
        .unwrap()
        .to_owned();
    assert_eq!(
        raw(addr, "GET", "/assets/a.txt", &[("If-Match", "\"nope\"")]).status,
        412
    );
    assert_eq!(
        raw(addr, "GET", "/assets/a.txt", &[("If-Match", &etag)]).status,
        200
    );
}

#[test]
fn a_byte_range_answers_206_with_content_range() {
    let tree = Tree::new();
    tree.file("digits.txt", "0123456789");
    let server = serve(tree.root());
    let addr = server.local_addr();
    let (status, head, body) = curl(addr, "/assets/digits.txt", &["-r", "2-5"]);
    assert_eq!((status, body.as_slice()), (206, &b"2345"[..]));
    assert!(head.contains("content-range: bytes 2-5/10\r\n"), "{head}");
    assert!(head.contains("content-length: 4\r\n"), "{head}");

    let (status, head, body) = curl(addr, "/assets/digits.txt", &["-r", "-3"]);
    assert_eq!((status, body.as_slice()), (206, &b"789"[..]));
    assert!(head.contains("content-range: bytes 7-9/10\r\n"), "{head}");

    // Several ranges: the whole file.
    let (status, _, body) = curl(addr, "/assets/digits.txt", &["-r", "0-1,4-5"]);
    assert_eq!((status, body.as_slice()), (200, &b"0123456789"[..]));
}

#[test]
fn a_range_past_the_end_answers_416_with_the_length() {
    let tree = Tree::new();
    tree.file("digits.txt", "0123456789");
    let server = serve(tree.root());
    let res = raw(
        server.local_addr(),
        "GET",
        "/assets/digits.txt",
        &[("Range", "bytes=10-")],
    );
    assert_eq!(res.status, 416);
    assert_eq!(res.header("content-range"), Some("bytes */10"));
    assert!(res.body.is_empty());
}

#[test]
fn if_range_with_a_stale_etag_sends_the_whole_file() {
    let tree = Tree::new();
    tree.file("digits.txt", "0123456789");
    let server = serve(tree.root());
    let addr = server.local_addr();
    let etag = get(addr, "/assets/digits.txt")
        .header("etag")
        .unwrap()
        .to_owned();
    let fresh = raw(
        addr,
        "GET",
        "/assets/digits.txt",
        &[("Range", "bytes=0-0"), ("If-Range", &etag)],
    );
    assert_eq!((fresh.status, fresh.body.as_slice()), (206, &b"0"[..]));
    let stale = raw(
        addr,
        "GET",
        "/assets/digits.txt",
        &[("Range", "bytes=0-0"), ("If-Range", "\"stale\"")],
    );
    assert_eq!(
        (stale.status, stale.body.as_slice()),
        (200, &b"0123456789"[..])
    );
}

#[test]
fn head_sends_the_length_without_a_body() {
    let tree = Tree::new();
    let big = vec![b'z'; 300_000];
    tree.file("big.bin", &big);
    let server = serve(tree.root());
    let res = raw(server.local_addr(), "HEAD", "/assets/big.bin", &[]);
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-length"), Some("300000"));
    assert!(res.header("etag").is_some());
    assert!(res.body.is_empty(), "{} bytes after a HEAD", res.body.len());

    let (status, head, _) = curl(server.local_addr(), "/assets/big.bin", &["-I"]);
    assert_eq!(status, 200);
    assert!(head.contains("content-length: 300000\r\n"), "{head}");
}

#[test]
fn curl_compressed_gets_the_gzip_sibling_and_decodes_it() {
    let tree = Tree::new();
    let original = "function hello() { return 'hello'; }\n".repeat(50);
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(original.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    tree.file("app.js", &original).file("app.js.gz", &gz);
    let server = serve(tree.root());
    let (status, head, body) = curl(server.local_addr(), "/assets/app.js", &["--compressed"]);
    assert_eq!(status, 200);
    assert_eq!(body, original.as_bytes());
    assert!(head.contains("content-encoding: gzip\r\n"), "{head}");
    assert!(head.contains("vary: accept-encoding\r\n"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}\r\n", gz.len())),
        "{head}"
    );
    assert!(
        head.contains("content-type: text/javascript; charset=utf-8\r\n"),
        "{head}"
    );
}

#[test]
fn accept_encoding_br_gets_the_br_sibling() {
    let tree = Tree::new();
    tree.file("app.css", "plain css")
        .file("app.css.br", b"\x8b\x03\x80brotli bytes\x03")
        .file("app.css.gz", b"\x1f\x8bgzip bytes");
    let server = serve(tree.root());
    let addr = server.local_addr();

    let br = raw(
        addr,
        "GET",
        "/assets/app.css",
        &[("Accept-Encoding", "gzip, deflate, br")],
    );
    assert_eq!(br.status, 200);
    assert_eq!(br.body, b"\x8b\x03\x80brotli bytes\x03");
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));

    let gzip = raw(
        addr,
        "GET",
        "/assets/app.css",
        &[("Accept-Encoding", "br;q=0.1, gzip")],
    );
    assert_eq!(gzip.header("content-encoding"), Some("gzip"));
    assert_eq!(gzip.body, b"\x1f\x8bgzip bytes");

    // No Accept-Encoding: the original, still with Vary, and another ETag than the br one.
    let plain = get(addr, "/assets/app.css");
    assert_eq!(plain.body, b"plain css");
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    assert_ne!(plain.header("etag"), br.header("etag"));
}

#[test]
fn a_directory_serves_its_index_file() {
    let tree = Tree::new();
    tree.file("index.html", "<h1>home</h1>")
        .file("docs/index.html", "<h1>docs</h1>");
    let server = serve(tree.root());
    let addr = server.local_addr();
    let home = get(addr, "/assets/");
    assert_eq!(
        (home.status, home.body.as_slice()),
        (200, &b"<h1>home</h1>"[..])
    );
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let docs = get(addr, "/assets/docs/");
    assert_eq!(docs.body, b"<h1>docs</h1>");

    // Without the slash, a redirect to it (query kept), which curl follows.
    let moved = get(addr, "/assets/docs?lang=en");
    assert_eq!(moved.status, 301);
    assert_eq!(moved.header("location"), Some("/assets/docs/?lang=en"));
    let (status, _, body) = curl(addr, "/assets/docs", &["-L"]);
    assert_eq!((status, body.as_slice()), (200, &b"<h1>docs</h1>"[..]));
}

#[test]
fn without_an_index_a_directory_answers_404() {
    let tree = Tree::new();
    tree.file("docs/readme.txt", "hi");
    let server = serve(StaticFiles::new(tree.root()).no_index());
    assert_eq!(get(server.local_addr(), "/assets/docs/").status, 404);
    assert_eq!(
        get(server.local_addr(), "/assets/docs/readme.txt").status,
        200
    );
}

#[test]
fn a_missing_file_answers_404() {
    let tree = Tree::new();
    let server = serve(tree.root());
    assert_eq!(get(server.local_addr(), "/assets/nope.js").status, 404);
    // A file asked for as a directory.
    tree.file("a.txt", "x");
    assert_eq!(get(server.local_addr(), "/assets/a.txt/").status, 404);
}

/// Every traversal attempt below would reach `secret.txt` (one level above the root) if the
/// path were joined naively.
fn assert_refused(target: &str, status: u16) {
    let tree = Tree::new();
    tree.file("ok.txt", "ok");
    let server = serve(tree.root());
    let res = get(server.local_addr(), target);
    assert_eq!(res.status, status, "{target}: {res:?}");
    assert!(
        !String::from_utf8_lossy(&res.body).contains(SECRET),
        "{target} leaked the secret"
    );
}

#[test]
fn dot_dot_answers_404() {
    assert_refused("/assets/../secret.txt", 404);
    assert_refused("/assets/sub/../../secret.txt", 404);
}

#[test]
fn percent_encoded_dot_dot_answers_404() {
    assert_refused("/assets/%2e%2e/secret.txt", 404);
    assert_refused("/assets/%2E%2E/secret.txt", 404);
    assert_refused("/assets/.%2e/secret.txt", 404);
}

#[test]
fn encoded_slash_answers_404() {
    assert_refused("/assets/..%2fsecret.txt", 404);
    assert_refused("/assets/%2e%2e%2Fsecret.txt", 404);
}

#[test]
fn encoded_backslash_answers_404() {
    assert_refused("/assets/..%5csecret.txt", 404);
    assert_refused("/assets/..%5Csecret.txt", 404);
}

#[test]
fn nul_byte_answers_400() {
    assert_refused("/assets/ok.txt%00.png", 400);
}

#[test]
fn absolute_path_answers_404() {
    assert_refused("/assets//etc/passwd", 404);
    // The secret's absolute path with its slashes encoded, so that it reaches the server as
    // one segment that a naive `root.join(decoded)` would take as absolute.
    let tree = Tree::new();
    let secret = tree.dir.path().join("secret.txt");
    let encoded = secret.to_str().unwrap().replace('/', "%2F");
    assert_refused(&format!("/assets/{encoded}"), 404);
}

#[test]
fn dotfiles_are_not_served_by_default() {
    let tree = Tree::new();
    tree.file(".env", "KEY=1")
        .file(".well-known/security.txt", "contact");
    let server = serve(tree.root());
    assert_eq!(get(server.local_addr(), "/assets/.env").status, 404);
    assert_eq!(get(server.local_addr(), "/assets/%2eenv").status, 404);
    let server = serve(StaticFiles::new(tree.root()).dotfiles(true));
    assert_eq!(
        get(server.local_addr(), "/assets/.well-known/security.txt").body,
        b"contact"
    );
}

#[test]
fn a_symlink_out_of_the_root_answers_404() {
    let tree = Tree::new();
    let root = tree.root();
    std::os::unix::fs::symlink("../secret.txt", root.join("relative-out.txt")).unwrap();
    std::os::unix::fs::symlink(
        tree.dir.path().join("secret.txt"),
        root.join("absolute-out.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(tree.dir.path(), root.join("dir-out")).unwrap();
    tree.file("inside.txt", "inside");
    std::os::unix::fs::symlink("inside.txt", root.join("link-in.txt")).unwrap();
    let server = serve(root.as_path());
    let addr = server.local_addr();
    for target in [
        "/assets/relative-out.txt",
        "/assets/absolute-out.txt",
        "/assets/dir-out/secret.txt",
    ] {
        let res = get(addr, target);
        assert_eq!(res.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&res.body).contains(SECRET));
    }
    // A relative symlink that stays inside is served.
    assert_eq!(get(addr, "/assets/link-in.txt").body, b"inside");
}

#[test]
fn static_file_serves_one_file_at_one_path() {
    let tree = Tree::new();
    tree.file("index.html", "<p>hi</p>");
    let mut app = App::new(Config {
        workers: 1,
        ..Config::default()
    });
    app.static_file("/", tree.root().join("index.html"));
    let server = app.listen("127.0.0.1:0").unwrap();
    let (status, head, body) = curl(server.local_addr(), "/", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"<p>hi</p>"[..]));
    assert!(
        head.contains("content-type: text/html; charset=utf-8\r\n"),
        "{head}"
    );
    std::fs::remove_file(tree.root().join("index.html")).unwrap();
    assert_eq!(get(server.local_addr(), "/").status, 404);
}

#[test]
fn files_over_max_file_size_are_served_in_bounded_ranges() {
    let tree = Tree::new();
    tree.file("video.bin", "abcdefghijklmnopqrst");
    let server = serve(StaticFiles::new(tree.root()).max_file_size(8));
    let addr = server.local_addr();
    assert_eq!(get(addr, "/assets/video.bin").status, 500);
    let first = raw(addr, "GET", "/assets/video.bin", &[("Range", "bytes=0-")]);
    assert_eq!(
        (first.status, first.body.as_slice()),
        (206, &b"abcdefgh"[..])
    );
    assert_eq!(first.header("content-range"), Some("bytes 0-7/20"));
    // The rest, asked for from where the first piece ended.
    let rest = raw(addr, "GET", "/assets/video.bin", &[("Range", "bytes=16-")]);
    assert_eq!(rest.body, b"qrst");
    assert_eq!(rest.header("content-range"), Some("bytes 16-19/20"));
    // HEAD still tells the whole length.
    let head = raw(addr, "HEAD", "/assets/video.bin", &[]);
    assert_eq!(head.header("content-length"), Some("20"));
}

#[test]
fn post_to_a_static_route_answers_405() {
    let tree = Tree::new();
    tree.file("a.txt", "x");
    let server = serve(tree.root());
    let res = raw(
        server.local_addr(),
        "POST",
        "/assets/a.txt",
        &[("Content-Length", "0")],
    );
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
}

#[test]
#[should_panic(expected = "cannot serve static files from")]
fn a_missing_root_fails_at_registration() {
    let mut app = App::new(Config::default());
    app.static_files("/assets", Path::new("/nonexistent/imphnen/public"));
}

#[test]
fn a_stepped_core_answers_within_its_turns() {
    // App::stepper: one thread, memory pipes; the read happens in place, so one run answers.
    let tree = Tree::new();
    tree.file("a.txt", "stepped");
    let mut app = App::new(Config::default());
    app.static_files("/assets", tree.root());
    let mut core = app.stepper().unwrap();
    let mut client = core.connect().unwrap();
    client
        .write_all(b"GET /assets/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    core.run();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(answer.ends_with(b"\r\n\r\nstepped"));
}

#[test]
fn a_fifo_or_a_socket_in_the_tree_answers_404_without_hanging() {
    let tree = Tree::new();
    let fifo = std::ffi::CString::new(tree.root().join("pipe.txt").to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(tree.root().join("sock.txt")).unwrap();
    let server = serve(tree.root());
    // A blocking open of the FIFO would wait for a writer; the read timeout (5 s) would fail.
    assert_eq!(get(server.local_addr(), "/assets/pipe.txt").status, 404);
    assert_eq!(get(server.local_addr(), "/assets/sock.txt").status, 404);
}

#[test]
fn a_release_swapped_behind_a_symlink_is_served_at_once() {
    // Deploys often point `current` at a new release directory; no restart is needed.
    let tree = Tree::new();
    let base = tree.dir.path();
    for (release, text) in [("v1", "one"), ("v2", "two")] {
        std::fs::create_dir(base.join(release)).unwrap();
        std::fs::write(base.join(release).join("app.txt"), text).unwrap();
    }
    std::os::unix::fs::symlink("v1", base.join("current")).unwrap();
    let server = serve(base.join("current"));
    assert_eq!(get(server.local_addr(), "/assets/app.txt").body, b"one");
    std::os::unix::fs::symlink("v2", base.join("next")).unwrap();
    std::fs::rename(base.join("next"), base.join("current")).unwrap();
    assert_eq!(get(server.local_addr(), "/assets/app.txt").body, b"two");
}
