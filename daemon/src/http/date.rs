//! Dates as HTTP writes them: IMF-fixdates (RFC 9110), by the httpdate crate.

use std::time::{Duration, UNIX_EPOCH};

use keys::UnixTime;

/// An IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: UnixTime) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(t.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        assert_eq!(
            http_date(UnixTime(784_111_777)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(http_date(UnixTime(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
