//! Human-readable sizes ("256MiB") and durations ("30s") used by limits and
//! listings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A number of bytes, written as `512`, `64k`, `256MiB`, `1GB`…
///
/// As in Docker's `--memory`, every unit is binary: `k`, `KB` and `KiB`
/// all mean 1024 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "invalid size '{text}': expected a number with an optional unit, like 512MiB or 1g"
            )
        };
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: f64 = number.parse().map_err(|_| expected())?;
        let shift = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(expected()),
        };
        let bytes = number * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(expected());
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    /// Renders the largest binary unit that divides the size exactly
    /// (`256MiB`, `1536KiB`, `100B`), so that a limit reads as it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
        for (unit, shift) in UNITS {
            if self.0 != 0 && self.0.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Renders a byte count the way `docker images` does: three significant
/// digits and a decimal unit (`26.3MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes}B");
    }
    let precision = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.precision$}{}", UNITS[unit])
}

/// Parses a duration such as `30s`, `500ms`, `2m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration '{text}': {e}; expected a number with a unit, like 30s or 500ms")
    })
}

/// Renders how long ago `seconds` seconds were, as `docker images` does
/// ("3 minutes ago").
pub fn human_age(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        0..=59 => "Less than a minute ago".to_owned(),
        60..=3599 => plural(seconds / 60, "minute"),
        3600..=86_399 => plural(seconds / 3600, "hour"),
        86_400..=1_209_599 => plural(seconds / 86_400, "day"),
        1_209_600..=5_183_999 => plural(seconds / 604_800, "week"),
        5_184_000..=63_071_999 => plural(seconds / 2_592_000, "month"),
        _ => plural(seconds / 31_536_000, "year"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!("512".parse::<ByteSize>().unwrap().0, 512);
        assert_eq!("64k".parse::<ByteSize>().unwrap().0, 64 * 1024);
        assert_eq!("256MiB".parse::<ByteSize>().unwrap().0, 256 << 20);
        assert_eq!("1GB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("1.5g".parse::<ByteSize>().unwrap().0, 3 << 29);
    }

    #[test]
    fn bad_sizes_say_what_was_expected() {
        for bad in ["", "MiB", "12 parsecs", "-1m", "1..2k"] {
            let err = bad.parse::<ByteSize>().unwrap_err();
            assert!(err.contains("expected a number"), "{bad}: {err}");
        }
    }

    #[test]
    fn sizes_display_in_the_largest_exact_unit() {
        assert_eq!(ByteSize(256 << 20).to_string(), "256MiB");
        assert_eq!(ByteSize(1536 << 10).to_string(), "1536KiB");
        assert_eq!(ByteSize(100).to_string(), "100B");
    }

    #[test]
    fn human_sizes_match_docker_style() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(26_300_000), "26.3MB");
        assert_eq!(human_size(1_234), "1.23kB");
        assert_eq!(human_size(123_456_789), "123MB");
    }

    #[test]
    fn durations_parse_common_forms() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(parse_duration("soon").unwrap_err().contains("like 30s"));
    }

    #[test]
    fn ages_read_like_docker() {
        assert_eq!(human_age(5), "Less than a minute ago");
        assert_eq!(human_age(60), "1 minute ago");
        assert_eq!(human_age(7200), "2 hours ago");
        assert_eq!(human_age(3 * 86_400), "3 days ago");
    }
}
