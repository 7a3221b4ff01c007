//! Human-readable sizes, as docker prints them: SI units for images, containers and volumes (`4.26MB`, go-units'
//! `HumanSize`), binary units for `stats`' memory (`64MiB`, go-units' `BytesSize`).

/// Size in SI units with three significant digits: `999B`, `1.5kB`, `4.26MB`, `1.07GB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    let digits = if v >= 100.0 {
        3
    } else if v >= 10.0 {
        2
    } else {
        1
    };
    // three significant digits, trailing zeros trimmed
    let s = format!("{v:.*}", 3 - digits.min(3));
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{}", UNITS[u])
}

/// Size in binary units with up to two decimals, trailing zeros trimmed, as `docker stats` prints memory:
/// `602KiB`, `64MiB`, `1.5GiB`, `0B`.
pub fn iec(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}{}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1500), "1.5kB");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(12_345_678), "12.3MB");
        assert_eq!(size(123_456_789), "123MB");
        assert_eq!(size(1_070_000_000), "1.07GB");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(iec(0), "0B");
        assert_eq!(iec(616_448), "602KiB");
        assert_eq!(iec(64 << 20), "64MiB");
        assert_eq!(iec(3 << 29), "1.5GiB");
    }
}
