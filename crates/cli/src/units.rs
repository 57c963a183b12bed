//! The units flags are written in: human sizes (`100MiB`) and durations (`1h`, `60s`).
//! Both parse what people type and print back the form the README uses, so a flag's
//! `[default: …]` in `--help` reads like its documentation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A number of bytes: parsed from `2MiB`, `500KB`, `1.5 kib`, `42`; printed in the
/// largest binary unit that divides it (`100MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    /// A number with an optional unit (B, KB/MB/GB = 1000ⁿ, KiB/MiB/GiB = 1024ⁿ),
    /// case-insensitive, spaces allowed.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a size like 2MiB or 500KB"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit {other:?}; use B, KB, KiB, MB, MiB, GB or GiB"
                ))
            }
        };
        let bytes = number * multiplier as f64;
        if !(1.0..=u64::MAX as f64).contains(&bytes) {
            return Err(format!("{text:?} is out of range"));
        }
        Ok(Self(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        match units
            .iter()
            .find(|(size, _)| self.0 >= *size && self.0.is_multiple_of(*size))
        {
            Some((size, unit)) => write!(f, "{}{unit}", self.0 / size),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A duration: parsed by `humantime` (`30m`, `1h 30m`, `500ms`); printed as whole
/// hours (`24h`), else seconds (`60s`), else milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text)
            .map(Self)
            .map_err(|error| error.to_string())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let duration = self.0;
        if duration.subsec_nanos() != 0 {
            write!(f, "{}ms", duration.as_millis())
        } else if duration.as_secs() >= 3600 && duration.as_secs().is_multiple_of(3600) {
            write!(f, "{}h", duration.as_secs() / 3600)
        } else {
            write!(f, "{}s", duration.as_secs())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_parse() {
        let parse = |text: &str| text.parse::<ByteSize>().map(|size| size.0);
        assert_eq!(parse("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse("500KB"), Ok(500_000));
        assert_eq!(parse("1.5 kib"), Ok(1536));
        assert_eq!(parse("42"), Ok(42));
        assert!(parse("0").is_err());
        assert!(parse("lots").is_err());
        assert!(parse("3 parsecs").is_err());
    }

    #[test]
    fn sizes_and_durations_print_as_they_parse() {
        for text in ["100MiB", "1GiB", "64KiB", "1000"] {
            assert_eq!(text.parse::<ByteSize>().unwrap().to_string(), text);
        }
        for text in ["1h", "24h", "60s", "90s", "250ms"] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().to_string(), text);
        }
    }
}
