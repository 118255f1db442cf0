//! Request message body length (RFC 9112 §6.3) from Content-Length and Transfer-Encoding, with the
//! request-smuggling defences of RFC 9112 §6.1, §6.3 and §11.2.
//!
//! Owns the decision "how is this request's body delimited, or must it be refused". Reading the
//! body itself is `body.rs`.

use super::headers::{list_members, trim_ows};
use super::{HttpError, Limits, Version};

/// How a request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither Content-Length nor Transfer-Encoding (RFC 9112 §6.3 rule 7).
    None,
    /// Exactly this many body bytes follow the head (RFC 9112 §6.3 rule 6).
    ContentLength(u64),
    /// The body uses the chunked transfer coding (RFC 9112 §7.1).
    Chunked,
}

/// Accumulates every Content-Length field of a head.
///
/// Several fields, or a comma list in one field, are accepted only when every member is the same
/// number (RFC 9110 §8.6); differing members are a smuggling vector and refused. Members must be
/// `1*DIGIT`: no sign, no whitespace inside, no empty member.
#[derive(Debug, Default)]
pub(crate) struct ContentLength {
    value: Option<u64>,
}

impl ContentLength {
    pub(crate) fn add_field(&mut self, field_value: &[u8]) -> Result<(), HttpError> {
        let mut members = field_value.split(|&b| b == b',').map(trim_ows);
        members.try_for_each(|member| {
            let n = parse_decimal(member).ok_or(HttpError::InvalidContentLength)?;
            match self.value {
                Some(previous) if previous != n => Err(HttpError::ConflictingContentLength),
                _ => {
                    self.value = Some(n);
                    Ok(())
                }
            }
        })
    }
}

/// `1*DIGIT` as a `u64`; `None` when empty, not all digits, or overflowing.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// Accumulates every Transfer-Encoding field of a head: the list of codings in order of
/// application (RFC 9112 §6.1).
#[derive(Debug, Default)]
pub(crate) struct TransferEncoding {
    present: bool,
    chunked_count: u32,
    last_is_chunked: bool,
    other_codings: bool,
}

impl TransferEncoding {
    pub(crate) fn add_field(&mut self, field_value: &[u8]) {
        self.present = true;
        for coding in list_members(field_value) {
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            self.chunked_count += u32::from(chunked);
            self.other_codings |= !chunked;
            self.last_is_chunked = chunked;
        }
    }
}

/// Decide the body framing of a request (RFC 9112 §6.3), refusing every ambiguous case.
pub(crate) fn resolve(
    version: Version,
    content_length: ContentLength,
    transfer_encoding: TransferEncoding,
    limits: &Limits,
) -> Result<BodyFraming, HttpError> {
    if transfer_encoding.present {
        // RFC 9112 §6.3 rule 3: a server MAY reject a request carrying both; we always do, because
        // any intermediary that picks the other header would see a different message boundary.
        if content_length.value.is_some() {
            return Err(HttpError::ContentLengthWithTransferEncoding);
        }
        // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request means faulty framing.
        if version == Version::Http10 {
            return Err(HttpError::TransferEncodingInHttp10);
        }
        // RFC 9112 §6.3 rule 4: chunked must be final (and applied once, RFC 9112 §6.1),
        // otherwise the length cannot be determined: 400, then close.
        if !transfer_encoding.last_is_chunked || transfer_encoding.chunked_count != 1 {
            return Err(HttpError::ChunkedNotFinal);
        }
        // RFC 9112 §6.1: a coding we do not understand (e.g. `gzip, chunked`) earns 501.
        if transfer_encoding.other_codings {
            return Err(HttpError::UnsupportedTransferCoding);
        }
        return Ok(BodyFraming::Chunked);
    }
    match content_length.value {
        Some(n) if n > limits.max_body_size => Err(HttpError::ContentTooLarge),
        Some(n) => Ok(BodyFraming::ContentLength(n)),
        None => Ok(BodyFraming::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_rejects_signs_spaces_and_overflow() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"+5"), None);
        assert_eq!(parse_decimal(b"5 5"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"0x10"), None);
    }
}
