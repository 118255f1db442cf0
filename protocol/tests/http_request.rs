//! Request head parsing against raw bytes (RFC 9112 §2–§9), one test per refusal with its status.

use imphnen_protocol::http::{
    BodyFraming, HeaderSlots, HttpError, Limits, Method, Parsed, RequestHead, Version,
    parse_request,
};

/// Parse `buf` with default limits and return what the complete head says, or the error.
fn with_head<T>(buf: &[u8], f: impl FnOnce(RequestHead<'_>, usize) -> T) -> Result<T, HttpError> {
    with_head_limits(buf, &Limits::default(), f)
}

fn with_head_limits<T>(
    buf: &[u8],
    limits: &Limits,
    f: impl FnOnce(RequestHead<'_>, usize) -> T,
) -> Result<T, HttpError> {
    let mut slots = HeaderSlots::<64>::new();
    match parse_request(buf, &mut slots, limits)? {
        Parsed::Complete(head, len) => Ok(f(head, len)),
        Parsed::Partial => panic!("unexpected Partial for {:?}", String::from_utf8_lossy(buf)),
    }
}

fn status_of(buf: &[u8]) -> u16 {
    status_with(buf, &Limits::default())
}

fn status_with(buf: &[u8], limits: &Limits) -> u16 {
    let mut slots = HeaderSlots::<64>::new();
    match parse_request(buf, &mut slots, limits) {
        Err(e) => e.status().as_u16(),
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

fn is_partial(buf: &[u8], limits: &Limits) -> bool {
    let mut slots = HeaderSlots::<64>::new();
    matches!(parse_request(buf, &mut slots, limits), Ok(Parsed::Partial))
}

#[test]
fn get_with_headers() {
    let buf = b"GET /chat/room?id=7&x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nAccept: */*\r\nX-Multi: a\r\nx-multi: b\r\n\r\n";
    with_head(buf, |head, len| {
        assert_eq!(len, buf.len());
        assert_eq!(head.method(), Method::Get);
        assert_eq!(head.target(), "/chat/room?id=7&x=1");
        assert_eq!(head.path(), "/chat/room");
        assert_eq!(head.query(), Some("id=7&x=1"));
        assert_eq!(head.version(), Version::Http11);
        assert_eq!(head.headers().len(), 5);
        assert_eq!(head.headers().get("HOST"), Some(&b"example.com"[..]));
        assert_eq!(head.headers().get("user-agent"), Some(&b"t/1"[..]));
        let multi: Vec<_> = head.headers().get_all("X-MULTI").collect();
        assert_eq!(multi, [&b"a"[..], &b"b"[..]]);
        let names: Vec<_> = head.headers().iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["Host", "User-Agent", "Accept", "X-Multi", "x-multi"]
        );
        assert_eq!(head.body_framing(), BodyFraming::None);
        assert!(head.keep_alive());
        assert!(!head.expects_continue());
        assert_eq!(head.upgrade(), None);
    })
    .unwrap();
}

#[test]
fn post_with_content_length_leaves_body_after_head() {
    let buf = b"POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    with_head(buf, |head, len| {
        assert_eq!(head.method(), Method::Post);
        assert_eq!(head.query(), None);
        assert_eq!(head.body_framing(), BodyFraming::ContentLength(11));
        assert_eq!(&buf[len..], b"hello world");
    })
    .unwrap();
}

#[test]
fn other_methods_and_target_forms() {
    with_head(b"PURGE /x HTTP/1.1\r\nHost: h\r\n\r\n", |head, _| {
        assert_eq!(head.method(), Method::Other("PURGE"));
        assert_eq!(head.method().as_str(), "PURGE");
    })
    .unwrap();
    // absolute-form (RFC 9112 §3.2.2)
    with_head(
        b"GET http://example.com/a/b?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
        |h, _| {
            assert_eq!(h.path(), "/a/b");
            assert_eq!(h.query(), Some("q"));
        },
    )
    .unwrap();
    with_head(
        b"GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        |h, _| {
            assert_eq!(h.path(), "/");
        },
    )
    .unwrap();
    // asterisk-form (RFC 9112 §3.2.4)
    with_head(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", |h, _| {
        assert_eq!(h.method(), Method::Options);
        assert_eq!(h.path(), "*");
    })
    .unwrap();
}

#[test]
fn chunked_transfer_encoding_is_chunked_framing() {
    let buf = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n";
    assert_eq!(
        with_head(buf, |h, _| h.body_framing()),
        Ok(BodyFraming::Chunked)
    );
}

#[test]
fn http11_is_persistent_unless_connection_close() {
    let ka = |buf: &[u8]| with_head(buf, |h, _| h.keep_alive()).unwrap();
    assert!(ka(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n"
    ));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo\r\nConnection:  Close \r\n\r\n"
    ));
    // `closed` is not `close`
    assert!(ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n"
    ));
}

#[test]
fn http10_is_persistent_only_with_keep_alive() {
    let ka = |buf: &[u8]| with_head(buf, |h, _| h.keep_alive()).unwrap();
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: foo,keep-alive\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
    assert_eq!(
        with_head(b"GET / HTTP/1.0\r\n\r\n", |h, _| h.version()),
        Ok(Version::Http10)
    );
}

#[test]
fn expect_100_continue() {
    let buf = b"PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n";
    assert_eq!(with_head(buf, |h, _| h.expects_continue()), Ok(true));
    // RFC 9110 §10.1.1: ignored in HTTP/1.0
    let buf = b"PUT /f HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    assert_eq!(with_head(buf, |h, _| h.expects_continue()), Ok(false));
}

#[test]
fn upgrade_needs_connection_upgrade_token() {
    let up = |buf: &[u8]| with_head(buf, |h, _| h.upgrade().map(<[u8]>::to_vec)).unwrap();
    assert_eq!(
        up(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        Some(b"websocket".to_vec())
    );
    assert_eq!(
        up(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"),
        None
    );
    assert_eq!(
        up(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n"),
        None
    );
    assert_eq!(
        up(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
        None
    );
}

#[test]
fn identical_repeated_content_length_is_accepted() {
    let framing = |buf: &[u8]| with_head(buf, |h, _| h.body_framing());
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
        Ok(BodyFraming::ContentLength(5))
    );
    assert_eq!(
        framing(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5,5\r\n\r\n"),
        Ok(BodyFraming::ContentLength(5))
    );
}

#[test]
fn bare_lf_in_head_is_accepted() {
    let buf = b"GET /lf HTTP/1.1\nHost: h\nX: y\n\n";
    assert_eq!(
        with_head(buf, |h, len| (h.path().to_owned(), len)),
        Ok(("/lf".into(), buf.len()))
    );
}

#[test]
fn leading_empty_lines_are_skipped() {
    assert_eq!(
        with_head(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", |h, _| h
            .method()
            == Method::Get),
        Ok(true)
    );
}

#[test]
fn unfinished_head_is_partial() {
    let limits = Limits::default();
    let full = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for end in 0..full.len() {
        assert!(is_partial(&full[..end], &limits), "prefix of {end} bytes");
    }
}

// --- refusals ---------------------------------------------------------------------------------

#[test]
fn both_content_length_and_transfer_encoding_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"),
        400
    );
}

#[test]
fn differing_duplicate_content_length_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"),
        400
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\n"),
        400
    );
}

#[test]
fn non_digit_content_length_is_400() {
    for value in ["-1", "+4", "4 4", "0x10", "", "1,", "4;", "\u{664}"] {
        let buf = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(status_of(buf.as_bytes()), 400, "Content-Length: {value:?}");
    }
}

#[test]
fn content_length_overflow_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n"),
        400
    );
}

#[test]
fn oversize_content_length_is_413() {
    let limits = Limits {
        max_body_size: 100,
        ..Limits::default()
    };
    assert_eq!(
        status_with(
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
            &limits
        ),
        413
    );
    let buf = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n";
    assert_eq!(
        with_head_limits(buf, &limits, |h, _| h.body_framing()),
        Ok(BodyFraming::ContentLength(100))
    );
    // the default limit, 1 MiB, from the head alone
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"),
        413
    );
}

#[test]
fn gzip_final_coding_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        400
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
        400
    );
}

#[test]
fn chunked_twice_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
        400
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn chunked_split_over_two_fields_with_gzip_last_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
        400
    );
}

#[test]
fn unknown_coding_before_chunked_is_501() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        501
    );
}

#[test]
fn transfer_encoding_in_http10_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn empty_transfer_encoding_is_400() {
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n"),
        400
    );
}

#[test]
fn header_flood_is_431() {
    let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..64 {
        buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    buf.extend_from_slice(b"\r\n");
    assert_eq!(status_of(&buf), 431);
    // A smaller configured limit applies even with larger slots.
    let limits = Limits {
        max_headers: 2,
        ..Limits::default()
    };
    assert_eq!(
        status_with(
            b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n",
            &limits
        ),
        431
    );
}

#[test]
fn oversize_head_is_431_even_unfinished() {
    let limits = Limits {
        max_head_size: 64,
        ..Limits::default()
    };
    let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    buf.resize(64, b'a');
    assert!(
        is_partial(&buf, &limits),
        "exactly at the limit is still partial"
    );
    buf.push(b'a');
    assert_eq!(status_with(&buf, &limits), 431);
    // a complete head longer than the limit
    let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
    buf.resize(80, b'a');
    buf.extend_from_slice(b"\r\n\r\n");
    assert_eq!(status_with(&buf, &limits), 431);
}

#[test]
fn long_uri_is_414() {
    let target = format!("/{}", "a".repeat(8 * 1024));
    let buf = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(status_of(buf.as_bytes()), 414);
    // also before the request-line is finished
    let buf = format!("GET /{}", "a".repeat(9 * 1024));
    assert_eq!(status_of(buf.as_bytes()), 414);
    // exactly at the limit is fine
    let target = format!("/{}", "a".repeat(8 * 1024 - 1));
    let buf = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(
        with_head(buf.as_bytes(), |h, _| h.target().len()),
        Ok(8 * 1024)
    );
}

#[test]
fn missing_host_in_http11_is_400() {
    assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400);
}

#[test]
fn duplicate_host_is_400() {
    assert_eq!(
        status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        400
    );
}

#[test]
fn obs_fold_is_400() {
    assert_eq!(
        status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
        400
    );
}

#[test]
fn space_before_colon_is_400() {
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"), 400);
}

#[test]
fn bare_cr_in_head_is_400() {
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), 400);
}

#[test]
fn malformed_request_line_is_400() {
    assert_eq!(status_of(b"GET /\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status_of(b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status_of(b"GET / FTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

#[test]
fn http2_version_is_505() {
    assert_eq!(status_of(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
}

#[test]
fn error_display_names_rule_and_status() {
    assert_eq!(
        HttpError::ContentLengthWithTransferEncoding.to_string(),
        "both Content-Length and Transfer-Encoding (400 Bad Request)"
    );
}

// --- regressions found by fuzz/fuzz_targets/http_request.rs ------------------------------------

#[test]
fn bad_method_byte_is_400_not_414_whatever_follows() {
    // A control byte in the method made the long tail count as a request-target (414) when the
    // whole buffer was parsed, but 400 when only a prefix had arrived.
    let limits = Limits {
        max_uri_length: 64,
        ..Limits::default()
    };
    let mut buf = b"~\0 ii".to_vec();
    buf.extend_from_slice(&[b'a'; 80]);
    assert_eq!(status_with(&buf, &limits), 400);
    assert_eq!(status_with(&buf[..18], &limits), 400);
}

#[test]
fn version_505_does_not_depend_on_what_follows() {
    assert_eq!(status_of(b"GET / HTTP/2.0"), 505);
    assert_eq!(status_of(b"GET / HTTP/2.0xyz\r\nHost: h\r\n\r\n"), 505);
    // httparse refuses `HTTP/2` before the rest arrives: the same answer from the prefix.
    assert_eq!(status_of(b"GET / HTTP/2"), 505);
    assert_eq!(status_of(b"GET / HTTP/1.2"), 505);
    assert_eq!(status_of(b"GET / HTTP/12.0\r\n"), 400);
    assert_eq!(status_of(b"GET / HTTP/12"), 400);
}

#[test]
fn long_target_before_a_bad_version_is_414_as_when_split() {
    let limits = Limits {
        max_uri_length: 64,
        ..Limits::default()
    };
    let mut buf = b"PT# /".to_vec();
    buf.extend_from_slice(&[b'j'; 70]);
    buf.extend_from_slice(b" iz\xff\xff\x80");
    assert_eq!(status_with(&buf, &limits), 414);
    assert_eq!(status_with(&buf[..72], &limits), 414);
}
