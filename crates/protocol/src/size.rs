//! Sizes as people read them, in messages of the server, the CLI and the web UI.

/// A byte count for people: `104857600` → `100 MiB`, `1536` → `1.5 KiB`.
///
/// ```
/// assert_eq!(trustyconvert_protocol::human_size(104_857_600), "100 MiB");
/// ```
pub fn human_size(bytes: u64) -> String {
    // Integer tenths, not floats: this runs in the browser too, where float formatting
    // costs kilobytes of wasm.
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut unit = 0;
    let mut scale = 1u64;
    while bytes / scale >= 1024 && unit + 1 < UNITS.len() {
        scale *= 1024;
        unit += 1;
    }
    let tenths = (u128::from(bytes) * 10 / u128::from(scale)) as u64;
    match (tenths % 10, bytes % scale) {
        (_, 0) => format!("{} {}", bytes / scale, UNITS[unit]),
        (0, _) => format!("{}.0 {}", tenths / 10, UNITS[unit]),
        (fraction, _) => format!("{}.{fraction} {}", tenths / 10, UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(500), "500 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(1025), "1.0 KiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
    }
}
