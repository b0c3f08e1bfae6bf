//! Timestamps as docker writes them: RFC 3339 in UTC with a `Z`. The json-file `time`
//! field uses Go's `RFC3339Nano` (trailing zeros of the fraction dropped, no fraction at
//! all on a whole second); `logs -t` uses the fixed nine-digit form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 9999-12-31T23:59:59Z, the last second RFC 3339's four-digit years can write.
const MAX_SECS: u64 = 253_402_300_799;

/// A UTC calendar time.
struct Civil {
    year: u64,
    month: u64,
    day: u64,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u32,
}

/// Splits a time into UTC calendar fields. Times before 1970 are written as the epoch and
/// times past year 9999 as its last nanosecond (neither comes from a real clock).
fn civil(time: SystemTime) -> Civil {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let (secs, nanos) = if since.as_secs() > MAX_SECS {
        (MAX_SECS, 999_999_999)
    } else {
        (since.as_secs(), since.subsec_nanos())
    };
    let (year, month, day) = date_from_days(secs / 86_400);
    let of_day = secs % 86_400;
    Civil {
        year,
        month,
        day,
        hour: of_day / 3600,
        minute: of_day / 60 % 60,
        second: of_day % 60,
        nanos,
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01. Counts in 400-year eras that
/// start on March 1st so that the leap day is the last day of each year.
fn date_from_days(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    let from_era0 = days + 719_468;
    let era = from_era0 / 146_097;
    let day_of_era = from_era0 % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March … 11 = February.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` as exactly `width` decimal digits.
fn push_digits(out: &mut Vec<u8>, value: u64, width: u32) {
    let mut div = 10u64.pow(width - 1);
    while div > 0 {
        out.push(b'0' + (value / div % 10) as u8);
        div /= 10;
    }
}

/// Appends `YYYY-MM-DDTHH:MM:SS`.
fn push_seconds(out: &mut Vec<u8>, c: &Civil) {
    push_digits(out, c.year, 4);
    out.push(b'-');
    push_digits(out, c.month, 2);
    out.push(b'-');
    push_digits(out, c.day, 2);
    out.push(b'T');
    push_digits(out, c.hour, 2);
    out.push(b':');
    push_digits(out, c.minute, 2);
    out.push(b':');
    push_digits(out, c.second, 2);
}

/// Appends the time as `docker logs -t` prints it: `2025-01-02T03:04:05.123456789Z`,
/// always nine fraction digits.
pub fn write_timestamp(out: &mut Vec<u8>, time: SystemTime) {
    let c = civil(time);
    push_seconds(out, &c);
    out.push(b'.');
    push_digits(out, u64::from(c.nanos), 9);
    out.push(b'Z');
}

/// The time as `docker logs -t` prints it: `2025-01-02T03:04:05.123456789Z`.
pub fn format_timestamp(time: SystemTime) -> String {
    let mut out = Vec::with_capacity(30);
    write_timestamp(&mut out, time);
    // Only ASCII digits and punctuation were written.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends the time as dockerd's json-file writes it (Go's `RFC3339Nano`): the fraction
/// without trailing zeros, and no fraction on a whole second.
pub fn write_rfc3339_nano(out: &mut Vec<u8>, time: SystemTime) {
    let c = civil(time);
    push_seconds(out, &c);
    if c.nanos != 0 {
        let mut nanos = c.nanos;
        let mut width = 9;
        while nanos % 10 == 0 {
            nanos /= 10;
            width -= 1;
        }
        out.push(b'.');
        push_digits(out, u64::from(nanos), width);
    }
    out.push(b'Z');
}

/// Parses an RFC 3339 UTC time (`Z` or `+00:00`, any number of fraction digits), as
/// the json-file `time` field holds it. `None` if it is not one.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    fn nano(time: SystemTime) -> String {
        let mut out = Vec::new();
        write_rfc3339_nano(&mut out, time);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fixed_and_trimmed_forms() {
        // 2025-01-02T03:04:05Z
        let t = at(1_735_787_045, 123_000_000);
        assert_eq!(format_timestamp(t), "2025-01-02T03:04:05.123000000Z");
        assert_eq!(nano(t), "2025-01-02T03:04:05.123Z");
        assert_eq!(nano(at(1_735_787_045, 0)), "2025-01-02T03:04:05Z");
        assert_eq!(nano(at(1_735_787_045, 1)), "2025-01-02T03:04:05.000000001Z");
        assert_eq!(
            format_timestamp(UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
    }

    #[test]
    fn calendar_edges_match_humantime() {
        // Leap days, century and 400-year boundaries, year ends.
        for secs in [
            951_782_400,   // 2000-02-29
            951_868_800,   // 2000-03-01
            4_107_542_400, // 2100-03-01
            1_709_164_799, // 2024-02-28T23:59:59
            1_709_251_199, // 2024-02-29T23:59:59
            1_735_689_599, // 2024-12-31T23:59:59
            MAX_SECS,
        ] {
            let t = at(secs, 987_654_321);
            let ours = format_timestamp(t);
            assert_eq!(ours, humantime::format_rfc3339_nanos(t).to_string());
            assert_eq!(parse_timestamp(&ours), Some(t));
            assert_eq!(parse_timestamp(&nano(t)), Some(t));
        }
    }

    #[test]
    fn out_of_range_is_clamped() {
        let before = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(format_timestamp(before), "1970-01-01T00:00:00.000000000Z");
        let after = at(MAX_SECS + 100, 0);
        assert_eq!(format_timestamp(after), "9999-12-31T23:59:59.999999999Z");
    }
}
