//! SHA-256 content digests: computing them over bytes and streams.

use std::io::{self, Read, Write};

use anyhow::{Context, Result, bail};
use oci_spec::image::{Digest, Sha256Digest};
use sha2::{Digest as _, Sha256};

/// The digest (`sha256:<hex>`) of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    from_hasher(Sha256::new_with_prefix(bytes))
}

/// The digest of everything `reader` yields.
pub fn sha256_reader(reader: impl Read) -> io::Result<Digest> {
    let mut reader = HashingReader::new(reader);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.finish().0)
}

/// Parses a `sha256:<64 hex>` digest, refusing every other algorithm: a
/// store keyed by SHA-256 must never be handed a name it cannot verify.
pub fn parse_sha256(text: &str) -> Result<Digest> {
    let Some(hex) = text.strip_prefix("sha256:") else {
        bail!("unsupported digest '{text}': expected sha256:<64 hex digits>");
    };
    let digest: Sha256Digest = hex
        .parse()
        .with_context(|| format!("invalid digest '{text}': expected sha256:<64 hex digits>"))?;
    Ok(digest.into())
}

/// The hex part of a digest, which names blobs on disk.
pub fn hex(digest: &Digest) -> &str {
    digest.digest()
}

/// The short form shown in listings (12 hex digits, like Docker's IMAGE ID).
pub fn short(digest: &Digest) -> &str {
    &digest.digest()[..12.min(digest.digest().len())]
}

fn from_hasher(hasher: Sha256) -> Digest {
    let hex = hex::encode(hasher.finalize());
    hex.parse::<Sha256Digest>()
        .expect("a SHA-256 hash always renders as 64 lowercase hex digits")
        .into()
}

/// A writer that hashes and counts every byte on its way to `inner`.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The wrapped writer, the digest of what passed and its length.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, from_hasher(self.hasher), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// The digest of what was read, and its length.
    pub fn finish(self) -> (Digest, u64) {
        (from_hasher(self.hasher), self.read)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_input_is_the_well_known_value() {
        assert_eq!(
            sha256(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn reader_and_slice_digests_agree() {
        let data = vec![7u8; 100_000];
        assert_eq!(sha256(&data), sha256_reader(&data[..]).unwrap());
    }

    #[test]
    fn parse_refuses_other_algorithms_and_bad_hex() {
        assert!(parse_sha256("sha512:abcd").is_err());
        assert!(parse_sha256("sha256:xyz").is_err());
        let good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(parse_sha256(good).unwrap().to_string(), good);
    }
}
