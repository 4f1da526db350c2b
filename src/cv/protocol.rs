//! The pipe protocol between the server and an extraction worker.
//!
//! The server writes one job at a time on the worker's stdin: `format: u8`, `path_len: u32 LE`,
//! `path` bytes. The worker answers on its stdout with frames `tag: u8`, `len: u32 LE`,
//! `payload`: any number of [`FRAME_OCR_STARTED`] notices, then exactly one final frame. A
//! worker that dies mid-job simply closes its stdout; the server then reads its exit status.

use std::io::{self, Read, Write};

use super::{CvFormat, TextSource};

/// Notice: OCR is starting on this many pages (payload: u32 LE); the server extends the job's
/// deadline by the OCR time limit.
pub(crate) const FRAME_OCR_STARTED: u8 = b'o';
/// Final: text from the text layer (payload: UTF-8).
pub(crate) const FRAME_TEXT_LAYER: u8 = b't';
/// Final: text to which OCR contributed (payload: UTF-8).
pub(crate) const FRAME_TEXT_OCR: u8 = b'r';
/// Final: a one-line reason why no text could be extracted.
pub(crate) const FRAME_FAILED: u8 = b'e';
/// Final: the parser panicked (one-line reason); the worker exits after sending it.
pub(crate) const FRAME_PANICKED: u8 = b'p';

/// A path longer than this is refused (Linux's PATH_MAX is 4096).
pub(crate) const MAX_PATH_BYTES: u32 = 16 * 1024;

pub(crate) fn format_code(format: CvFormat) -> u8 {
    match format {
        CvFormat::Pdf => 0,
        CvFormat::Docx => 1,
    }
}

pub(crate) fn format_from_code(code: u8) -> Option<CvFormat> {
    match code {
        0 => Some(CvFormat::Pdf),
        1 => Some(CvFormat::Docx),
        _ => None,
    }
}

pub(crate) fn final_tag(source: TextSource) -> u8 {
    match source {
        TextSource::TextLayer => FRAME_TEXT_LAYER,
        TextSource::Ocr => FRAME_TEXT_OCR,
    }
}

/// The job request, as the server sends it.
pub(crate) fn encode_request(format: CvFormat, path: &[u8]) -> Vec<u8> {
    let mut request = Vec::with_capacity(5 + path.len());
    request.push(format_code(format));
    request.extend_from_slice(&u32::try_from(path.len()).unwrap_or(u32::MAX).to_le_bytes());
    request.extend_from_slice(path);
    request
}

/// Reads one job in the worker; `Ok(None)` at a clean end of input (the server is done with it).
pub(crate) fn read_request(input: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut format = [0u8; 1];
    match input.read_exact(&mut format) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_PATH_BYTES {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "path too long"));
    }
    let mut path = vec![0u8; len as usize];
    input.read_exact(&mut path)?;
    Ok(Some((format[0], path)))
}

/// Writes one frame in the worker, flushed.
pub(crate) fn write_frame(output: &mut impl Write, tag: u8, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("frame too large"))?;
    output.write_all(&[tag])?;
    output.write_all(&len.to_le_bytes())?;
    output.write_all(payload)?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips() {
        let encoded = encode_request(CvFormat::Docx, b"/tmp/cv.docx");
        let (format, path) = read_request(&mut encoded.as_slice()).unwrap().unwrap();
        assert_eq!(format_from_code(format), Some(CvFormat::Docx));
        assert_eq!(path, b"/tmp/cv.docx");
        assert!(read_request(&mut [].as_slice()).unwrap().is_none());
    }

    #[test]
    fn an_oversized_path_is_refused() {
        let mut encoded = vec![0u8];
        encoded.extend_from_slice(&(MAX_PATH_BYTES + 1).to_le_bytes());
        assert!(read_request(&mut encoded.as_slice()).is_err());
    }

    #[test]
    fn frames_carry_tag_length_and_payload() {
        let mut out = Vec::new();
        write_frame(&mut out, FRAME_TEXT_LAYER, "é".as_bytes()).unwrap();
        assert_eq!(out, [b't', 2, 0, 0, 0, 0xC3, 0xA9]);
    }
}
