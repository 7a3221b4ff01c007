//! holm's own annotation namespace for VM containers, `org.holm.vm.`: a key in it that holm does not know (a typo
//! such as `org.holm.vm.tcg-tbsize`) is refused at create instead of silently doing nothing.

/// The namespace of VM settings in `config.json` `annotations`.
pub const PREFIX: &str = "org.holm.vm.";

/// Every `org.holm.vm.*` annotation holm reads.
pub const KNOWN: &[&str] = &[
    crate::qemu::TCG_TB_SIZE_ANNOTATION,
    crate::snapshot::ANNOTATION,
];

/// An `org.holm.vm.*` annotation holm does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "annotations.{key}: unknown VM annotation (holm's org.holm.vm. namespace knows only {})",
    KNOWN.join(", ")
)]
pub struct Unknown {
    /// The key refused.
    pub key: String,
}

/// Refuses the first key of `keys` in [`PREFIX`]'s namespace that is not in [`KNOWN`]; other keys pass.
pub fn check<'a>(keys: impl IntoIterator<Item = &'a String>) -> Result<(), Unknown> {
    match keys
        .into_iter()
        .find(|k| k.starts_with(PREFIX) && !KNOWN.contains(&k.as_str()))
    {
        Some(k) => Err(Unknown { key: k.clone() }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_in_the_namespace_are_refused() {
        let ok = [
            "org.holm.vm.tcg-tb-size".to_string(),
            "org.holm.vm.snapshot-boot".into(),
            "org.holm.isolation".into(),
            "io.kubernetes.cri.sandbox-id".into(),
        ];
        assert_eq!(check(&ok), Ok(()));
        let bad = [
            "org.holm.isolation".to_string(),
            "org.holm.vm.tcg-tbsize".into(),
        ];
        assert_eq!(
            check(&bad).unwrap_err().to_string(),
            "annotations.org.holm.vm.tcg-tbsize: unknown VM annotation (holm's org.holm.vm. namespace knows only \
             org.holm.vm.tcg-tb-size, org.holm.vm.snapshot-boot)"
        );
    }
}
