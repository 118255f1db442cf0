//! Request body decoding (RFC 9112 §6, §7.1): Content-Length bodies and the chunked transfer
//! coding, as state machines fed any split of the input.
//!
//! Owns body bytes only: the head and the choice of framing come from `request.rs` and
//! `framing.rs`. Decoders append body data to the caller's `Vec` and report how many input bytes
//! they consumed, so pipelined requests that follow in the same buffer are left untouched.
//!
//! The chunked coding is parsed strictly: every chunk line, the CRLF after chunk data and every
//! trailer line must end with CRLF (a bare LF is refused, RFC 9112 §7.1 and §2.2 only allow it in
//! the head), chunk extensions are checked against their grammar (RFC 9112 §7.1.1) and ignored,
//! and trailer fields are checked (RFC 9112 §7.1.2) and discarded. One leniency: whitespace
//! after the size with no extension (`4 \r\n`) is accepted, as BWS would be before a `;`; it
//! cannot change where the chunk ends.

use super::headers::is_tchar;
use super::{BodyFraming, HttpError, Limits};

/// Longest chunk line accepted (size, extensions and CRLF): chunk extensions are ignored, so
/// there is no reason to scan long ones.
pub const MAX_CHUNK_LINE: usize = 1024;

/// What one call to a decoder did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyProgress {
    /// Input bytes consumed; the caller drops them and passes the rest next time.
    pub consumed: usize,
    /// True once the whole body (and for chunked, the trailer section) has been consumed;
    /// bytes after `consumed` belong to the next request.
    pub done: bool,
}

/// Decoder for a body framed by Content-Length (RFC 9112 §6.2): the next `n` bytes.
#[derive(Debug, Clone)]
pub struct LengthDecoder {
    remaining: u64,
}

impl LengthDecoder {
    /// A decoder for a body of exactly `length` bytes.
    pub fn new(length: u64) -> Self {
        LengthDecoder { remaining: length }
    }

    /// Body bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Take the body bytes at the start of `input` without copying; the returned slice is body
    /// data, possibly empty.
    pub fn take<'a>(&mut self, input: &'a [u8]) -> (&'a [u8], BodyProgress) {
        let n = usize::try_from(self.remaining).map_or(input.len(), |r| r.min(input.len()));
        self.remaining -= n as u64;
        let progress = BodyProgress {
            consumed: n,
            done: self.remaining == 0,
        };
        (&input[..n], progress)
    }
}

/// Where the chunked decoder is in `chunked-body` (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Reading `chunk-size` hex digits; `digits` seen so far.
    Size { size: u64, digits: u32 },
    /// Inside `chunk-ext` after the size (or in BWS before it).
    Ext { size: u64, ext: Ext },
    /// Saw the CR ending a chunk line; the LF must follow.
    SizeLf { size: u64 },
    /// Inside chunk data, `remaining` bytes to go.
    Data { remaining: u64 },
    /// Chunk data ended; the CR must follow.
    DataCr,
    /// The LF after chunk data must follow.
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// Saw the CR ending a trailer line.
    TrailerLf,
    /// Saw the CR of the final empty line.
    EndLf,
    /// The body is over.
    Done,
}

/// Where the decoder is in `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS
/// chunk-ext-val ] )` (RFC 9112 §7.1.1), where `chunk-ext-val = token / quoted-string`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// Before `;` or the line's CR (BWS allowed).
    BeforeSemicolon,
    /// After `;`, before the name (BWS allowed).
    BeforeName,
    /// Inside the name token.
    Name,
    /// After the name: BWS, then `=`, `;` or CR.
    AfterName,
    /// After `=`, before the value (BWS allowed).
    BeforeValue,
    /// Inside a token value.
    Token,
    /// Inside a quoted-string value.
    Quoted,
    /// After a backslash in a quoted-string (quoted-pair).
    QuotedPair,
}

/// Decoder for the chunked transfer coding (RFC 9112 §7.1).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: Chunked,
    /// Bytes of the current chunk line or trailer section seen, for the line bounds.
    line_len: usize,
    trailer_len: usize,
    body_len: u64,
    max_body_size: u64,
    max_trailer_size: usize,
    failed: Option<HttpError>,
}

impl ChunkedDecoder {
    /// A decoder that refuses bodies over `limits.max_body_size` (413) and trailer sections over
    /// `limits.max_head_size` (431).
    pub fn new(limits: &Limits) -> Self {
        ChunkedDecoder {
            state: Chunked::Size { size: 0, digits: 0 },
            line_len: 0,
            trailer_len: 0,
            body_len: 0,
            max_body_size: limits.max_body_size,
            max_trailer_size: limits.max_head_size,
            failed: None,
        }
    }

    /// Decoded body bytes so far.
    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// True once the last chunk and the trailer section have been consumed.
    pub fn is_done(&self) -> bool {
        self.state == Chunked::Done
    }

    /// Decode from `input`, appending chunk data to `out`. Works across any split of the input:
    /// call again with the unconsumed rest plus new bytes. Once done, consumes nothing more.
    /// After an error, every later call returns the same error.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<BodyProgress, HttpError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut i = 0;
        while i < input.len() && self.state != Chunked::Done {
            if let Chunked::Data { remaining } = self.state {
                let n =
                    usize::try_from(remaining).map_or(input.len() - i, |r| r.min(input.len() - i));
                out.extend_from_slice(&input[i..i + n]);
                i += n;
                let remaining = remaining - n as u64;
                self.state = if remaining == 0 {
                    Chunked::DataCr
                } else {
                    Chunked::Data { remaining }
                };
                continue;
            }
            if let Err(error) = self.step(input[i]) {
                self.failed = Some(error);
                return Err(error);
            }
            i += 1;
        }
        Ok(BodyProgress {
            consumed: i,
            done: self.state == Chunked::Done,
        })
    }

    /// Advance by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match self.state {
            Chunked::Size { size, digits } => {
                self.count_line_byte(HttpError::InvalidChunkSize)?;
                match hex_value(b) {
                    Some(d) => {
                        let size = size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(u64::from(d)))
                            .ok_or(HttpError::ChunkSizeOverflow)?;
                        Chunked::Size {
                            size,
                            digits: digits + 1,
                        }
                    }
                    // chunk-size = 1*HEXDIG
                    None if digits == 0 => return Err(HttpError::InvalidChunkSize),
                    None => self.after_size(size, Ext::BeforeSemicolon, b)?,
                }
            }
            Chunked::Ext { size, ext } => {
                self.count_line_byte(HttpError::InvalidChunkExtension)?;
                self.after_size(size, ext, b)?
            }
            Chunked::SizeLf { size } => {
                if b != b'\n' {
                    return Err(HttpError::ChunkedLineNotCrlf);
                }
                self.line_len = 0;
                if size == 0 {
                    Chunked::TrailerStart
                } else {
                    // RFC 9110 §15.5.14: refuse before buffering data past the limit.
                    self.body_len = self
                        .body_len
                        .checked_add(size)
                        .filter(|&total| total <= self.max_body_size)
                        .ok_or(HttpError::ContentTooLarge)?;
                    Chunked::Data { remaining: size }
                }
            }
            Chunked::Data { .. } => unreachable!("chunk data is copied in bulk by decode"),
            Chunked::DataCr if b == b'\r' => Chunked::DataLf,
            Chunked::DataLf if b == b'\n' => Chunked::Size { size: 0, digits: 0 },
            Chunked::DataCr | Chunked::DataLf => return Err(HttpError::ChunkedLineNotCrlf),
            Chunked::TrailerStart => {
                self.count_trailer_byte()?;
                match b {
                    b'\r' => Chunked::EndLf,
                    b'\n' => return Err(HttpError::ChunkedLineNotCrlf),
                    _ if is_tchar(b) => Chunked::TrailerName,
                    // Includes obs-fold (a line starting with SP/HTAB), refused as in the head.
                    _ => return Err(HttpError::InvalidTrailer),
                }
            }
            Chunked::TrailerName => {
                self.count_trailer_byte()?;
                match b {
                    b':' => Chunked::TrailerValue,
                    _ if is_tchar(b) => Chunked::TrailerName,
                    _ => return Err(HttpError::InvalidTrailer),
                }
            }
            Chunked::TrailerValue => {
                self.count_trailer_byte()?;
                match b {
                    b'\r' => Chunked::TrailerLf,
                    b'\n' => return Err(HttpError::ChunkedLineNotCrlf),
                    // field-vchar / SP / HTAB; other control bytes are refused (RFC 9110 §5.5).
                    b'\t' | b' '..=b'~' | 0x80..=0xff => Chunked::TrailerValue,
                    _ => return Err(HttpError::InvalidTrailer),
                }
            }
            Chunked::TrailerLf => {
                self.count_trailer_byte()?;
                if b != b'\n' {
                    return Err(HttpError::ChunkedLineNotCrlf);
                }
                Chunked::TrailerStart
            }
            Chunked::EndLf => {
                if b != b'\n' {
                    return Err(HttpError::ChunkedLineNotCrlf);
                }
                Chunked::Done
            }
            Chunked::Done => Chunked::Done,
        };
        Ok(())
    }

    /// One byte of a chunk line after the size digits: extensions, BWS, or the line end.
    fn after_size(&mut self, size: u64, ext: Ext, b: u8) -> Result<Chunked, HttpError> {
        let is_ws = b == b' ' || b == b'\t';
        let next = match (ext, b) {
            // The line ends after the size, a name, or a value.
            (Ext::BeforeSemicolon | Ext::AfterName | Ext::Name | Ext::Token, b'\r') => {
                return Ok(Chunked::SizeLf { size });
            }
            (_, b'\n') => return Err(HttpError::ChunkedLineNotCrlf),
            (Ext::BeforeSemicolon | Ext::AfterName | Ext::Name | Ext::Token, b';') => {
                Ext::BeforeName
            }
            (Ext::BeforeSemicolon | Ext::BeforeName | Ext::BeforeValue, _) if is_ws => ext,
            (Ext::Name | Ext::AfterName, _) if is_ws => Ext::AfterName,
            (Ext::Token, _) if is_ws => Ext::BeforeSemicolon,
            (Ext::BeforeName | Ext::Name, _) if is_tchar(b) => Ext::Name,
            (Ext::Name | Ext::AfterName, b'=') => Ext::BeforeValue,
            (Ext::BeforeValue, b'"') => Ext::Quoted,
            (Ext::BeforeValue | Ext::Token, _) if is_tchar(b) => Ext::Token,
            (Ext::Quoted, b'"') => Ext::BeforeSemicolon,
            (Ext::Quoted, b'\\') => Ext::QuotedPair,
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 §5.6.4)
            (Ext::Quoted, b'\t' | b' '..=b'~' | 0x80..=0xff) => Ext::Quoted,
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            (Ext::QuotedPair, b'\t' | b' '..=b'~' | 0x80..=0xff) => Ext::Quoted,
            (Ext::BeforeSemicolon, _) if self.in_size_line(ext) => {
                return Err(HttpError::InvalidChunkSize);
            }
            _ => return Err(HttpError::InvalidChunkExtension),
        };
        Ok(Chunked::Ext { size, ext: next })
    }

    /// True while the line has had nothing after the size digits (so a stray byte is a bad size,
    /// like `4x`), rather than a bad extension.
    fn in_size_line(&self, ext: Ext) -> bool {
        matches!(self.state, Chunked::Size { .. }) && ext == Ext::BeforeSemicolon
    }

    fn count_line_byte(&mut self, error: HttpError) -> Result<(), HttpError> {
        self.line_len += 1;
        if self.line_len > MAX_CHUNK_LINE {
            return Err(error);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), HttpError> {
        self.trailer_len += 1;
        if self.trailer_len > self.max_trailer_size {
            return Err(HttpError::TrailerTooLarge);
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A decoder for whichever framing a request head announced.
#[derive(Debug, Clone)]
pub enum BodyDecoder {
    /// Content-Length framing (a zero length or no body at all is a finished `Length`).
    Length(LengthDecoder),
    /// Chunked framing.
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// The decoder for `framing` within `limits`.
    pub fn new(framing: BodyFraming, limits: &Limits) -> Self {
        match framing {
            BodyFraming::None => BodyDecoder::Length(LengthDecoder::new(0)),
            BodyFraming::ContentLength(n) => BodyDecoder::Length(LengthDecoder::new(n)),
            BodyFraming::Chunked => BodyDecoder::Chunked(ChunkedDecoder::new(limits)),
        }
    }

    /// Decode from `input`, appending body data to `out`; see [`ChunkedDecoder::decode`].
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<BodyProgress, HttpError> {
        match self {
            BodyDecoder::Length(decoder) => {
                let (data, progress) = decoder.take(input);
                out.extend_from_slice(data);
                Ok(progress)
            }
            BodyDecoder::Chunked(decoder) => decoder.decode(input, out),
        }
    }

    /// True once the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length(decoder) => decoder.remaining() == 0,
            BodyDecoder::Chunked(decoder) => decoder.is_done(),
        }
    }
}
