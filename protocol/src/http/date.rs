//! The `Date` header value (RFC 9110 §6.6.1) in IMF-fixdate form (RFC 9110 §5.6.7), formatted
//! at most once per second.
//!
//! Owns the formatting and the per-second cache. It never reads the clock: the caller passes the
//! time (once per event-loop turn, typically), which keeps this module deterministic and testable.

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

const DAY_NAMES: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Seconds since the epoch of 9999-12-31 23:59:59, the last instant IMF-fixdate's four-digit year
/// can express; later times are written as that instant.
const MAX_SECONDS: u64 = 253_402_300_799;

/// The current `Date` value, reformatted only when the second changes.
#[derive(Debug, Clone)]
pub struct DateCache {
    second: u64,
    formatted: [u8; IMF_FIXDATE_LEN],
}

impl DateCache {
    /// A cache holding the date of `now`.
    pub fn new(now: SystemTime) -> Self {
        let second = unix_seconds(now);
        DateCache {
            second,
            formatted: imf_fixdate(second),
        }
    }

    /// Move the cache to `now`; formats only when the whole second differs from the cached one.
    pub fn update(&mut self, now: SystemTime) {
        let second = unix_seconds(now);
        if second != self.second {
            self.second = second;
            self.formatted = imf_fixdate(second);
        }
    }

    /// The IMF-fixdate bytes, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn as_bytes(&self) -> &[u8; IMF_FIXDATE_LEN] {
        &self.formatted
    }
}

/// Whole seconds since the Unix epoch, clamped to what IMF-fixdate can express (times before
/// 1970 are written as the epoch).
fn unix_seconds(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_SECONDS)
}

/// Format `seconds` since the epoch as IMF-fixdate:
/// `day-name "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"`.
pub fn imf_fixdate(seconds: u64) -> [u8; IMF_FIXDATE_LEN] {
    let days = seconds / 86_400;
    let second_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    // 1970-01-01 was a Thursday.
    out[0..3].copy_from_slice(DAY_NAMES[(days % 7) as usize]);
    write_2digits(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTH_NAMES[(month - 1) as usize]);
    write_2digits(&mut out[12..14], year / 100);
    write_2digits(&mut out[14..16], year % 100);
    write_2digits(&mut out[17..19], (second_of_day / 3600) as u32);
    write_2digits(&mut out[20..22], (second_of_day / 60 % 60) as u32);
    write_2digits(&mut out[23..25], (second_of_day % 60) as u32);
    out
}

fn write_2digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// The proleptic Gregorian (year, month 1–12, day 1–31) of a day count since 1970-01-01.
///
/// Works in eras of 400 years (146,097 days, a whole number of weeks and leap cycles), with
/// years starting on 1 March so that the leap day is the last day of the year.
fn civil_from_days(days_since_epoch: u64) -> (u32, u32, u32) {
    // 0000-03-01 is 719,468 days before 1970-01-01.
    let days = days_since_epoch + 719_468;
    let era = days / 146_097;
    let day_of_era = days % 146_097; // 0..=146_096
    // Years of 365 days, corrected for the leap days every 4, 100 and 400 years.
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months from March: lengths 31,30,31,30,31 repeat, which (153 * m + 2) / 5 captures.
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: u64) -> String {
        String::from_utf8(imf_fixdate(seconds).to_vec()).unwrap()
    }

    #[test]
    fn epoch() {
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn rfc_9110_example_date() {
        // RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT" is 784111777 seconds after the epoch.
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn leap_days() {
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(at(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
        assert_eq!(at(1_709_251_200), "Fri, 01 Mar 2024 00:00:00 GMT");
    }

    #[test]
    fn past_2038() {
        assert_eq!(at(2_147_483_647), "Tue, 19 Jan 2038 03:14:07 GMT");
        assert_eq!(at(2_147_483_648), "Tue, 19 Jan 2038 03:14:08 GMT");
        assert_eq!(at(4_102_444_800), "Fri, 01 Jan 2100 00:00:00 GMT");
        // 2100 is not a leap year: 28 Feb is followed by 1 Mar.
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(at(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn far_future_is_clamped_to_year_9999() {
        assert_eq!(at(MAX_SECONDS), "Fri, 31 Dec 9999 23:59:59 GMT");
        let cache = DateCache::new(UNIX_EPOCH + Duration::from_secs(u64::MAX / 4));
        assert_eq!(cache.as_bytes(), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn cache_reformats_only_on_a_new_second() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut cache = DateCache::new(t);
        cache.update(t + Duration::from_millis(999));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        cache.update(t + Duration::from_millis(1000));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn before_epoch_is_the_epoch() {
        let cache = DateCache::new(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(cache.as_bytes(), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
