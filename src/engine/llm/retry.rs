//! When to try again and how long to wait: exponential backoff with jitter, `Retry-After`
//! honoured up to a configured ceiling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::RetryConfig;

/// Statuses worth another attempt: rate limits, timeouts and server errors.
pub(super) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || (500..600).contains(&status)
}

/// The server's requested wait: `retry-after-ms`, else `Retry-After` in (possibly fractional)
/// seconds or as an HTTP date.
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let number = |name: &str| {
        text(name)?
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = number("retry-after-ms") {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(secs) = number("retry-after") {
        return Some(Duration::from_secs_f64(secs));
    }
    let at = http_date(text("retry-after")?)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace().skip(1);
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|n| n.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days)
        .ok()
        .map(|d| d * 86_400 + h * 3_600 + m * 60 + sec)
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// Wait this long, then try again.
    Wait(Duration),
    /// No retries left.
    GiveUp,
    /// The server asked for a longer wait than the policy allows.
    TooLong(Duration),
}

/// The backoff state of one call.
#[derive(Debug)]
pub(super) struct Backoff {
    config: RetryConfig,
    retries: u32,
    seed: u64,
}

impl Backoff {
    pub(super) fn new(config: &RetryConfig) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            config: config.clone(),
            retries: 0,
            seed: u64::from(nanos) ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Attempts made so far, counting the first.
    pub(super) fn attempts(&self) -> u32 {
        self.retries + 1
    }

    /// Decides after a failed attempt; `retry_after` is the server's request, if any.
    pub(super) fn next(&mut self, retry_after: Option<Duration>) -> Next {
        if self.retries >= self.config.max_retries {
            return Next::GiveUp;
        }
        let wait = match retry_after {
            Some(d) if d > Duration::from_millis(self.config.max_retry_after_ms) => {
                return Next::TooLong(d);
            }
            Some(d) => d,
            None => {
                let exp = self
                    .config
                    .initial_backoff_ms
                    .saturating_mul(1u64 << self.retries.min(20))
                    .min(self.config.max_backoff_ms);
                // Jitter: uniform in [exp/2, exp], so a crowd of clients spreads out.
                let half = exp / 2;
                Duration::from_millis(half + self.random() % (exp - half + 1))
            }
        };
        self.retries += 1;
        Next::Wait(wait)
    }

    /// splitmix64: good enough for jitter, no dependency.
    fn random(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stops() {
        let config = RetryConfig {
            max_retries: 3,
            initial_backoff_ms: 100,
            max_backoff_ms: 250,
            max_retry_after_ms: 1_000,
        };
        let mut b = Backoff::new(&config);
        let ms = |n: Next| match n {
            Next::Wait(d) => d.as_millis(),
            other => panic!("{other:?}"),
        };
        assert!((50..=100).contains(&ms(b.next(None))));
        assert!((100..=200).contains(&ms(b.next(None))));
        assert!((125..=250).contains(&ms(b.next(None))));
        assert_eq!(b.next(None), Next::GiveUp);
        assert_eq!(b.attempts(), 4);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_ceiling() {
        let config = RetryConfig {
            max_retries: 3,
            initial_backoff_ms: 100,
            max_backoff_ms: 250,
            max_retry_after_ms: 1_000,
        };
        let mut b = Backoff::new(&config);
        assert_eq!(
            b.next(Some(Duration::from_millis(700))),
            Next::Wait(Duration::from_millis(700))
        );
        assert_eq!(
            b.next(Some(Duration::from_secs(5))),
            Next::TooLong(Duration::from_secs(5))
        );
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "1.5".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        h.insert(
            "retry-after",
            "Thu, 01 Jan 1970 00:00:00 GMT".parse().unwrap(),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        assert!(is_retryable_status(429) && is_retryable_status(503));
        assert!(
            !is_retryable_status(400) && !is_retryable_status(401) && !is_retryable_status(404)
        );
    }
}
