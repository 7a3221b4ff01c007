//! The hugetlb controller: `linux.resources.hugepageLimits` — `hugetlb.<size>.limit_in_bytes` on v1,
//! `hugetlb.<size>.max` on v2, plus the reservation limit (`.rsvd.`) where the kernel has it, as runc does.

use oci_spec::runtime::LinuxHugepageLimit;

use crate::memory::v2_limit;
use crate::resources::{w, Controller, Setting};
use crate::Error;

pub(crate) const HUGETLB: Controller = Controller {
    v1: "hugetlb",
    v2: "hugetlb",
};

/// Checks a page size as the kernel names it in file names: digits then `KB`, `MB` or `GB` (`2MB`, `1GB`).
pub(crate) fn valid_page_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && ["KB", "MB", "GB"].contains(&unit)
}

pub(crate) fn settings(limits: &[LinuxHugepageLimit]) -> Result<Vec<Setting>, Error> {
    let mut out = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let size = l.page_size();
        let field = format!("hugepageLimits[{i}]");
        if !valid_page_size(size) {
            return Err(Error::Resource {
                field,
                reason: format!("invalid pageSize `{size}`: expected a size like `2MB` or `1GB`"),
            });
        }
        let v1 = if l.limit() < 0 { -1 } else { l.limit() };
        out.push(
            Setting::new(
                field.clone(),
                HUGETLB,
                w(format!("hugetlb.{size}.limit_in_bytes"), v1),
                w(format!("hugetlb.{size}.max"), v2_limit(l.limit())),
            )
            .default_if(l.limit() < 0),
        );
        // The reservation limit exists only on newer kernels: never an error when missing.
        out.push(
            Setting::new(
                field,
                HUGETLB,
                w(format!("hugetlb.{size}.rsvd.limit_in_bytes"), v1),
                w(format!("hugetlb.{size}.rsvd.max"), v2_limit(l.limit())),
            )
            .default_if(true),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        for ok in ["2MB", "1GB", "64KB"] {
            assert!(valid_page_size(ok), "{ok}");
        }
        for bad in ["", "MB", "2mb", "2M", "../x", "2MB/..", "2 MB"] {
            assert!(!valid_page_size(bad), "{bad}");
        }
    }
}
