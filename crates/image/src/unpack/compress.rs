//! Layer compression (image-spec `layer.md`: `tar`, `tar+gzip`, `tar+zstd`) and the size cap that stops a
//! decompression bomb.

use oci_spec::image::MediaType;
use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (RFC 1952); concatenated members are accepted.
    Gzip,
    /// Zstandard (RFC 8878).
    Zstd,
}

impl Compression {
    /// The compression a layer media type declares (OCI and docker schema2 names), or `None` for a media type that
    /// is not a layer.
    pub fn from_media_type(m: &MediaType) -> Option<Compression> {
        match m {
            MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => {
                Some(Compression::None)
            }
            MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => {
                Some(Compression::Gzip)
            }
            MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => {
                Some(Compression::Zstd)
            }
            MediaType::Other(s) => match s.as_str() {
                "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
                | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                    Some(Compression::Gzip)
                }
                "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
                _ => None,
            },
            _ => None,
        }
    }

    /// Guesses the compression from the first bytes of a stream (gzip `1f 8b`, zstd `28 b5 2f fd`); anything else
    /// is taken as a plain tar.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI media type of a layer with this compression.
    pub fn oci_media_type(self) -> MediaType {
        match self {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }
}

/// A decoder for `c` over `r`.
pub fn decoder<'a, R: BufRead + 'a>(r: R, c: Compression) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
    })
}

/// A decoder for a stream whose compression is sniffed from its first bytes.
pub fn sniffing_decoder<'a, R: BufRead + 'a>(
    mut r: R,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let c = Compression::sniff(r.fill_buf()?);
    Ok((c, decoder(r, c)?))
}

/// A reader that fails once more than `limit` bytes have passed through it, and records that it did (so that the
/// caller can tell a bomb from another read error after a tar parser has wrapped the error).
pub struct Limited<R> {
    inner: R,
    limit: u64,
    count: u64,
    tripped: Rc<Cell<bool>>,
}

impl<R: Read> Limited<R> {
    /// Wraps `inner` with a cap of `limit` bytes; `tripped` is set when the cap is exceeded.
    pub fn new(inner: R, limit: u64, tripped: Rc<Cell<bool>>) -> Self {
        Limited {
            inner,
            limit,
            count: 0,
            tripped,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if self.count > self.limit {
            self.tripped.set(true);
            return Err(io::Error::other(format!(
                "uncompressed layer exceeds the limit of {} bytes",
                self.limit
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sniff_and_decode() {
        let data = b"hello layer".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for (bytes, c) in [
            (&gz[..], Compression::Gzip),
            (&zs[..], Compression::Zstd),
            (&data[..], Compression::None),
        ] {
            let (got, mut r) = sniffing_decoder(bytes).unwrap();
            assert_eq!(got, c);
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
    }

    #[test]
    fn limited_trips() {
        let tripped = Rc::new(Cell::new(false));
        let mut r = Limited::new(&[0u8; 100][..], 50, tripped.clone());
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
        assert!(tripped.get());
    }

    #[test]
    fn media_types() {
        assert_eq!(
            Compression::from_media_type(&MediaType::ImageLayerGzip),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::from_media_type(&MediaType::from(
                "application/vnd.docker.image.rootfs.diff.tar.gzip"
            )),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type(&MediaType::ImageConfig), None);
    }
}
