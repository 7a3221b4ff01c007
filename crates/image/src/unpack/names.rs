//! Pure logic on tar entry names: lexical cleaning (so that `..` and absolute names stay inside the layer) and
//! whiteout classification (image-spec `layer.md#whiteouts`).

/// The prefix of a whiteout file name.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of an opaque-directory marker.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// The prefix of aufs metadata names (`.wh..wh.plnk`, `.wh..wh.aufs`), which carry no layer content.
pub const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// Splits a tar entry name into components relative to the layer root: empty and `.` components are dropped, `..`
/// removes the previous component and is dropped at the root, a leading `/` is ignored. `/abs/file` → `abs/file`;
/// `../../etc/x` → `etc/x`; `/..` → `[]` (the root itself).
pub fn clean(name: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in name.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// What a name means in a layer.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An ordinary name.
    Plain,
    /// `.wh..wh..opq`: the parent directory hides everything below it in lower layers.
    Opaque,
    /// `.wh.NAME`: NAME is deleted from lower layers.
    Whiteout(&'a [u8]),
    /// `.wh..wh.*` other than the opaque marker: aufs metadata, ignored.
    AufsMeta,
    /// A whiteout that names nothing deletable (`.wh.`, `.wh..`, `.wh...`): rejected.
    Invalid,
}

/// Classifies the last component of an entry name.
pub fn classify(name: &[u8]) -> Kind<'_> {
    if name == OPAQUE {
        return Kind::Opaque;
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return Kind::AufsMeta;
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        None => Kind::Plain,
        Some(b"" | b"." | b"..") => Kind::Invalid,
        Some(target) => Kind::Whiteout(target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Vec<String> {
        clean(s.as_bytes())
            .into_iter()
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn cleaning_stays_inside() {
        assert_eq!(c("a/b/c"), ["a", "b", "c"]);
        assert_eq!(c("./a//b/"), ["a", "b"]);
        assert_eq!(c("/abs/file"), ["abs", "file"]);
        assert_eq!(c("../../etc/passwd"), ["etc", "passwd"]);
        assert_eq!(c("/../x"), ["x"]);
        assert_eq!(c("a/../../b"), ["b"]);
        assert_eq!(c("a/b/../c"), ["a", "c"]);
        assert!(c("/..").is_empty());
        assert!(c("./").is_empty());
        assert!(c("").is_empty());
        assert_eq!(c("..."), ["..."]);
    }

    #[test]
    fn whiteout_classification() {
        assert_eq!(classify(b"file"), Kind::Plain);
        assert_eq!(classify(b".wh.file"), Kind::Whiteout(b"file"));
        assert_eq!(classify(b".wh..hidden"), Kind::Whiteout(b".hidden"));
        assert_eq!(classify(b".wh..wh..opq"), Kind::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), Kind::AufsMeta);
        assert_eq!(classify(b".wh."), Kind::Invalid);
        assert_eq!(classify(b".wh.."), Kind::Invalid);
        assert_eq!(classify(b".wh..."), Kind::Invalid);
        assert_eq!(classify(b".wh...."), Kind::Whiteout(b"..."));
        assert_eq!(classify(b"x.wh.y"), Kind::Plain);
    }
}
