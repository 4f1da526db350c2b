//! Base64 decoded straight into a spool file while the string streams (CONTRACT §12, step 4 and 6): standard
//! alphabet, `=` padding optional and only at the end, ASCII white space anywhere ignored. Past the attachment
//! limit nothing more is written (the file is dropped) but the rest is still checked, because a malformed
//! attachment is answered before a too large one.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use super::json_stream::{BodyError, BodyResult, StringSink};
use crate::spool::SpoolFile;

/// Written out to the file in pieces of this size, so a request holds at most this much decoded data.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

const INVALID: u8 = 0xFF;
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Why a `content` is not base64; shown as the field error's reason.
pub const NOT_BASE64: &str = "must be valid Base64";

/// One attachment's content, as it was decoded.
#[derive(Debug)]
pub struct DecodedContent {
    /// The decoded bytes, when they were kept (not past the limit, not an attachment beyond the fifth).
    pub file: Option<SpoolFile>,
    pub size: u64,
    pub over_limit: bool,
    pub not_base64: bool,
}

pub struct Base64Spool {
    sextets: [u8; 4],
    pending: usize,
    padding: u8,
    not_base64: bool,
    size: u64,
    limit: u64,
    over_limit: bool,
    buffer: Vec<u8>,
    file: Option<(tokio::fs::File, SpoolFile)>,
}

impl Base64Spool {
    /// A decoder writing into a new file of `spool_dir`, or checking only when `keep` is false.
    pub fn new(spool_dir: &Path, limit: u64, keep: bool) -> BodyResult<Self> {
        let file = if keep {
            let (spooled, writer) = SpoolFile::create_in(spool_dir).map_err(BodyError::Spool)?;
            Some((tokio::fs::File::from_std(writer), spooled))
        } else {
            None
        };
        Ok(Base64Spool {
            sextets: [0; 4],
            pending: 0,
            padding: 0,
            not_base64: false,
            size: 0,
            limit,
            over_limit: false,
            buffer: Vec::new(),
            file,
        })
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            if !self.over_limit {
                self.over_limit = true;
                // Nothing of it will be used: free the disk and the buffer now.
                self.file = None;
                self.buffer = Vec::new();
            }
            return;
        }
        if self.file.is_some() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    fn decode_quad(&mut self) {
        let [a, b, c, d] = self.sextets;
        self.emit(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
        self.pending = 0;
    }

    async fn write_out(&mut self) -> BodyResult<()> {
        if let Some((file, _)) = self.file.as_mut()
            && !self.buffer.is_empty()
        {
            file.write_all(&self.buffer).await.map_err(BodyError::Spool)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Ends the string: the last partial group, the padding rule, and the file completed.
    pub async fn finish(mut self) -> BodyResult<DecodedContent> {
        if !self.not_base64 {
            let (a, b, c) = (self.sextets[0], self.sextets[1], self.sextets[2]);
            match (self.pending, self.padding) {
                (0, 0) => {}
                (2, 0 | 2) => self.emit(&[(a << 2) | (b >> 4)]),
                (3, 0 | 1) => self.emit(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2)]),
                _ => self.not_base64 = true,
            }
        }
        if self.not_base64 {
            self.file = None;
        }
        self.write_out().await?;
        let file = match self.file.take() {
            Some((mut file, spooled)) => {
                file.flush().await.map_err(BodyError::Spool)?;
                Some(spooled)
            }
            None => None,
        };
        Ok(DecodedContent { file, size: self.size, over_limit: self.over_limit, not_base64: self.not_base64 })
    }
}

impl StringSink for Base64Spool {
    fn push(&mut self, bytes: &[u8]) {
        if self.not_base64 {
            return;
        }
        for &byte in bytes {
            if byte.is_ascii_whitespace() {
                continue;
            }
            if byte == b'=' {
                self.padding += 1;
                if self.padding > 2 {
                    self.not_base64 = true;
                    return;
                }
                continue;
            }
            let value = DECODE[usize::from(byte)];
            if value == INVALID || self.padding > 0 {
                // Outside the alphabet, or data after the padding.
                self.not_base64 = true;
                return;
            }
            self.sextets[self.pending] = value;
            self.pending += 1;
            if self.pending == 4 {
                self.decode_quad();
            }
        }
    }

    fn wants_flush(&self) -> bool {
        self.buffer.len() >= WRITE_BUFFER_BYTES
    }

    fn flush(&mut self) -> impl std::future::Future<Output = BodyResult<()>> + Send {
        self.write_out()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn decode(input: &str, limit: u64) -> (DecodedContent, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Base64Spool::new(dir.path(), limit, true).unwrap();
        // Fed in uneven pieces, as a body arrives.
        for piece in input.as_bytes().chunks(3) {
            spool.push(piece);
            if spool.wants_flush() {
                spool.flush().await.unwrap();
            }
        }
        let decoded = spool.finish().await.unwrap();
        let bytes = decoded.file.as_ref().map(|f| std::fs::read(f.path()).unwrap()).unwrap_or_default();
        (decoded, bytes)
    }

    #[tokio::test]
    async fn decodes_with_or_without_padding_and_ignores_white_space() {
        for (input, expected) in [
            ("SGVsbG8=", "Hello"),
            ("SGVsbG8", "Hello"),
            ("SGVs\nbG8h", "Hello!"),
            (" S G V s b A = = ", "Hell"),
            ("SGVsbA", "Hell"),
            ("", ""),
        ] {
            let (decoded, bytes) = decode(input, 100).await;
            assert!(!decoded.not_base64, "{input:?}");
            assert_eq!(String::from_utf8(bytes).unwrap(), expected, "{input:?}");
            assert_eq!(decoded.size, expected.len() as u64);
        }
    }

    #[tokio::test]
    async fn refuses_other_alphabets_misplaced_padding_and_lone_characters() {
        for input in ["SGVs-G8", "SGVs_G8", "SG=VsbG8", "SGVsbG8===", "SGVsb", "QQ=", "QUJD=", "===="] {
            let (decoded, _) = decode(input, 100).await;
            assert!(decoded.not_base64, "{input:?} should be refused");
            assert!(decoded.file.is_none());
        }
    }

    #[tokio::test]
    async fn stops_keeping_past_the_limit_but_counts_on() {
        let (decoded, _) = decode("SGVsbG8gd29ybGQ=", 5).await;
        assert!(decoded.over_limit && !decoded.not_base64);
        assert_eq!(decoded.size, 11);
        assert!(decoded.file.is_none());
    }
}
