//! Content digests (image-spec `descriptor.md#digests`): SHA-256 hashing of streams, validation of the
//! `sha256:<64 lowercase hex>` form holm accepts, and layer chain ids (image-spec `config.md#layer-chainid`).
//!
//! holm reuses [`oci_spec::image::Digest`] as the digest type; this module adds what the store needs around it.

use sha2::Digest as _;
use std::io::{self, Read, Write};

pub use oci_spec::image::Digest;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// The string is not `algorithm:encoded`.
    #[error("invalid digest `{0}`")]
    Invalid(String),
    /// A well-formed digest with an algorithm holm does not store (only `sha256` is supported).
    #[error("unsupported digest algorithm in `{0}` (holm stores sha256 only)")]
    Unsupported(String),
}

/// Parses and validates a digest: only `sha256:` followed by exactly 64 lowercase hex digits is accepted, so the
/// hex part is always safe to use as a file name.
pub fn parse(s: &str) -> Result<Digest, DigestError> {
    let (alg, hex) = s
        .split_once(':')
        .ok_or_else(|| DigestError::Invalid(s.to_string()))?;
    if alg != "sha256" {
        if alg.is_empty() || hex.is_empty() {
            return Err(DigestError::Invalid(s.to_string()));
        }
        return Err(DigestError::Unsupported(s.to_string()));
    }
    if !is_sha256_hex(hex) {
        return Err(DigestError::Invalid(s.to_string()));
    }
    s.parse::<Digest>()
        .map_err(|_| DigestError::Invalid(s.to_string()))
}

/// The 64-digit hex part of a sha256 digest, validated (see [`parse`]).
pub fn hex(d: &Digest) -> Result<&str, DigestError> {
    let s = d.as_ref();
    match s.split_once(':') {
        Some(("sha256", hex)) if is_sha256_hex(hex) => Ok(hex),
        Some(("sha256", _)) | None => Err(DigestError::Invalid(s.to_string())),
        Some(_) => Err(DigestError::Unsupported(s.to_string())),
    }
}

/// True if `s` is exactly 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// An incremental SHA-256 over a byte stream that also counts the bytes.
#[derive(Default, Clone)]
pub struct Hasher {
    inner: sha2::Sha256,
    len: u64,
}

impl Hasher {
    /// A hasher over no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `sha256:` digest of everything fed.
    pub fn finish(self) -> Digest {
        let out = self.inner.finalize();
        format!("sha256:{}", to_hex(&out))
            .parse()
            .expect("a sha256 hex digest is a valid digest")
    }
}

/// The `sha256:` digest of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    let mut h = Hasher::new();
    h.update(bytes);
    h.finish()
}

/// A reader that hashes (and counts) every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True if nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The wrapped reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Reads the rest of the stream (discarding it) and returns the digest and length of all bytes read.
    pub fn drain(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let len = self.hasher.len();
        Ok((self.hasher.finish(), len))
    }

    /// The digest and length of the bytes read so far, and the wrapped reader.
    pub fn finish(self) -> (Digest, u64, R) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes (and counts) every byte written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.hasher.len()
    }

    /// True if nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.hasher.is_empty()
    }

    /// The digest and length of everything written, and the wrapped writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let len = self.hasher.len();
        (self.hasher.finish(), len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The chain ids of a stack of layers (image-spec `config.md#layer-chainid`): `ChainID(L0) = DiffID(L0)`,
/// `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))`. Returns one chain id per diff id, in order.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(
            sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256(b"abc").to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_accepts_only_sha256_hex() {
        let ok = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse(ok).unwrap().to_string(), ok);
        assert_eq!(hex(&parse(ok).unwrap()).unwrap(), &ok[7..]);
        for bad in [
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:abc",
            "sha256:../../../etc/passwd",
            "sha256",
            ":abc",
            "",
        ] {
            assert!(matches!(parse(bad), Err(DigestError::Invalid(_))), "{bad}");
        }
        assert!(matches!(
            parse("sha512:abcd"),
            Err(DigestError::Unsupported(_))
        ));
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let c = sha256(b"c");
        let ids = chain_ids(&[a.clone(), b.clone(), c.clone()]);
        assert_eq!(ids[0], a);
        let ab = sha256(format!("{a} {b}").as_bytes());
        assert_eq!(ids[1], ab);
        assert_eq!(ids[2], sha256(format!("{ab} {c}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn hashing_reader_and_writer_agree() {
        let data = vec![7u8; 100_000];
        let r = HashingReader::new(&data[..]);
        let (d, n) = r.drain().unwrap();
        assert_eq!(n, 100_000);
        assert_eq!(d, sha256(&data));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(&data).unwrap();
        let (d2, n2, v) = w.finish();
        assert_eq!((d2, n2, v.len()), (d, n, 100_000));
    }
}
