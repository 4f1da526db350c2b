//! A small pull reader of JSON over a streaming request body, for bodies too large to hold in memory
//! (CONTRACT §12: up to `MAX_IMPORT_BODY_BYTES`, 100 MiB, of base64). It holds one body chunk at a time, counts
//! the bytes against the body limit as they arrive, and hands string contents to a [`StringSink`] in runs, so a
//! multi-megabyte string is never buffered. Values the caller does not want are skipped (and still checked).
//!
//! Only what the import API needs: objects are walked key by key, arrays element by element, and the caller
//! decides per key what to read. Nesting of skipped values is bounded by [`MAX_DEPTH`].

use axum::body::BodyDataStream;
use bytes::Bytes;
use futures_util::StreamExt;

/// Deeper nesting than any Teamio payload needs is refused rather than tracked.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body passed its limit while streaming.
    #[error("request body too large")]
    TooLarge,
    /// Not JSON; the message is shown to the client.
    #[error("{0}")]
    Invalid(&'static str),
    /// The body stream itself failed (client gone, a layer's limit or timeout).
    #[error("reading the request body failed")]
    Read(#[source] axum::Error),
    /// Writing a decoded attachment to the spool directory failed.
    #[error("spooling an attachment failed")]
    Spool(#[source] std::io::Error),
}

pub type BodyResult<T> = Result<T, BodyError>;

const UNEXPECTED_END: BodyError = BodyError::Invalid("Malformed JSON: unexpected end of the body");

/// Where the contents of a string go, already unescaped, in runs of bytes.
pub trait StringSink: Send {
    fn push(&mut self, bytes: &[u8]);
    /// Asked after each run: a sink that buffers says when to write out.
    fn wants_flush(&self) -> bool {
        false
    }
    /// Writes out what the sink buffered.
    fn flush(&mut self) -> impl std::future::Future<Output = BodyResult<()>> + Send {
        async { Ok(()) }
    }
}

/// Discards a string (a key or value nobody reads).
pub struct Discard;

impl StringSink for Discard {
    fn push(&mut self, _bytes: &[u8]) {}
}

/// A string kept up to `cap` bytes; past it only `truncated` is recorded (the value is too long for any rule).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CappedText {
    bytes: Vec<u8>,
    cap: usize,
    pub truncated: bool,
}

impl CappedText {
    pub fn with_cap(cap: usize) -> Self {
        CappedText { bytes: Vec::new(), cap, truncated: false }
    }

    /// The text kept (complete unless `truncated`).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes)
    }
}

impl StringSink for CappedText {
    fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.bytes.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

/// What a value turned out to be, when the caller only wanted to know its kind before skipping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueStart {
    Object,
    Array,
    String,
    Number,
    Literal(u8),
}

pub struct JsonReader {
    stream: BodyDataStream,
    chunk: Bytes,
    pos: usize,
    received: u64,
    limit: u64,
}

impl JsonReader {
    pub fn new(stream: BodyDataStream, limit: u64) -> Self {
        JsonReader { stream, chunk: Bytes::new(), pos: 0, received: 0, limit }
    }

    /// Makes sure a byte is available; `false` at the end of the body.
    async fn fill(&mut self) -> BodyResult<bool> {
        while self.pos >= self.chunk.len() {
            match self.stream.next().await {
                None => return Ok(false),
                Some(Ok(chunk)) => {
                    self.received = self.received.saturating_add(chunk.len() as u64);
                    if self.received > self.limit {
                        return Err(BodyError::TooLarge);
                    }
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(error)) => return Err(BodyError::Read(error)),
            }
        }
        Ok(true)
    }

    async fn next_byte(&mut self) -> BodyResult<u8> {
        if !self.fill().await? {
            return Err(UNEXPECTED_END);
        }
        let byte = self.chunk[self.pos];
        self.pos += 1;
        Ok(byte)
    }

    /// The next byte that is not JSON white space, left unread; `None` at the end of the body.
    pub async fn peek_token(&mut self) -> BodyResult<Option<u8>> {
        loop {
            if !self.fill().await? {
                return Ok(None);
            }
            let byte = self.chunk[self.pos];
            if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                return Ok(Some(byte));
            }
        }
    }

    async fn expect_token(&mut self, expected: u8, message: &'static str) -> BodyResult<()> {
        match self.peek_token().await? {
            Some(byte) if byte == expected => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(BodyError::Invalid(message)),
            None => Err(UNEXPECTED_END),
        }
    }

    /// Everything after the top-level value must be white space.
    pub async fn expect_end(&mut self) -> BodyResult<()> {
        match self.peek_token().await? {
            None => Ok(()),
            Some(_) => Err(BodyError::Invalid("Malformed JSON: unexpected data after the top-level value")),
        }
    }

    /// The kind of the next value, from its first byte, left unread.
    pub async fn peek_value(&mut self) -> BodyResult<ValueStart> {
        match self.peek_token().await? {
            Some(b'{') => Ok(ValueStart::Object),
            Some(b'[') => Ok(ValueStart::Array),
            Some(b'"') => Ok(ValueStart::String),
            Some(b'-' | b'0'..=b'9') => Ok(ValueStart::Number),
            Some(byte @ (b't' | b'f' | b'n')) => Ok(ValueStart::Literal(byte)),
            Some(_) => Err(BodyError::Invalid("Malformed JSON: a value was expected")),
            None => Err(UNEXPECTED_END),
        }
    }

    /// Reads `{` and the first key, or the closing `}`: `Some(key)` while keys come.
    pub async fn begin_object(&mut self) -> BodyResult<Option<CappedText>> {
        self.expect_token(b'{', "Malformed JSON: an object was expected").await?;
        if self.peek_token().await? == Some(b'}') {
            self.pos += 1;
            return Ok(None);
        }
        self.read_key().await.map(Some)
    }

    /// After a member's value: the next key, or `None` at the closing `}`.
    pub async fn next_key(&mut self) -> BodyResult<Option<CappedText>> {
        match self.peek_token().await? {
            Some(b',') => {
                self.pos += 1;
                self.read_key().await.map(Some)
            }
            Some(b'}') => {
                self.pos += 1;
                Ok(None)
            }
            Some(_) => Err(BodyError::Invalid("Malformed JSON: ',' or '}' expected in an object")),
            None => Err(UNEXPECTED_END),
        }
    }

    async fn read_key(&mut self) -> BodyResult<CappedText> {
        if self.peek_token().await? != Some(b'"') {
            return Err(BodyError::Invalid("Malformed JSON: a member name was expected"));
        }
        let mut key = CappedText::with_cap(64);
        self.read_string(&mut key).await?;
        self.expect_token(b':', "Malformed JSON: ':' expected after a member name").await?;
        Ok(key)
    }

    /// Reads `[`: `true` when an element follows, `false` for `[]`.
    pub async fn begin_array(&mut self) -> BodyResult<bool> {
        self.expect_token(b'[', "Malformed JSON: an array was expected").await?;
        if self.peek_token().await? == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// After an element: `true` when another follows, `false` at the closing `]`.
    pub async fn next_element(&mut self) -> BodyResult<bool> {
        match self.peek_token().await? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            Some(_) => Err(BodyError::Invalid("Malformed JSON: ',' or ']' expected in an array")),
            None => Err(UNEXPECTED_END),
        }
    }

    /// Reads a string value into `sink`, unescaped, in runs; the sink writes out whenever it asks to.
    pub async fn read_string<S: StringSink>(&mut self, sink: &mut S) -> BodyResult<()> {
        self.expect_token(b'"', "Malformed JSON: a string was expected").await?;
        loop {
            if !self.fill().await? {
                return Err(BodyError::Invalid("Malformed JSON: unterminated string"));
            }
            let rest = &self.chunk[self.pos..];
            let run =
                rest.iter().position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b)).unwrap_or(rest.len());
            sink.push(&rest[..run]);
            let stop = rest.get(run).copied();
            self.pos += run;
            match stop {
                None => {}
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let mut utf8 = [0u8; 4];
                    let unescaped = self.read_escape().await?;
                    sink.push(unescaped.encode_utf8(&mut utf8).as_bytes());
                }
                Some(byte) if byte < 0x20 => {
                    return Err(BodyError::Invalid("Malformed JSON: control character in a string"));
                }
                Some(_) => {
                    let (bytes, len) = self.read_utf8_sequence().await?;
                    sink.push(&bytes[..len]);
                }
            }
            if sink.wants_flush() {
                sink.flush().await?;
            }
        }
        Ok(())
    }

    /// One non-ASCII character, checked to be well-formed UTF-8 (lead byte, continuation bytes).
    async fn read_utf8_sequence(&mut self) -> BodyResult<([u8; 4], usize)> {
        const INVALID: BodyError = BodyError::Invalid("Malformed JSON: invalid UTF-8");
        let lead = self.next_byte().await?;
        let len = match lead {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return Err(INVALID),
        };
        let mut bytes = [lead, 0, 0, 0];
        for slot in bytes.iter_mut().take(len).skip(1) {
            let byte = self.next_byte().await?;
            if byte & 0xC0 != 0x80 {
                return Err(INVALID);
            }
            *slot = byte;
        }
        if std::str::from_utf8(&bytes[..len]).is_err() {
            return Err(INVALID);
        }
        Ok((bytes, len))
    }

    /// The character of an escape sequence, after its backslash.
    async fn read_escape(&mut self) -> BodyResult<char> {
        const INVALID: BodyError = BodyError::Invalid("Malformed JSON: invalid escape sequence");
        Ok(match self.next_byte().await? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.read_hex4().await?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.next_byte().await? != b'\\' || self.next_byte().await? != b'u' {
                            return Err(INVALID);
                        }
                        let low = self.read_hex4().await?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(INVALID);
                        }
                        let code = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                        char::from_u32(code).ok_or(INVALID)?
                    }
                    0xDC00..=0xDFFF => return Err(INVALID),
                    unit => char::from_u32(u32::from(unit)).ok_or(INVALID)?,
                }
            }
            _ => return Err(INVALID),
        })
    }

    async fn read_hex4(&mut self) -> BodyResult<u16> {
        let mut value = 0u16;
        for _ in 0..4 {
            let digit = (self.next_byte().await? as char)
                .to_digit(16)
                .ok_or(BodyError::Invalid("Malformed JSON: invalid \\u escape"))?;
            value = value * 16 + digit as u16;
        }
        Ok(value)
    }

    /// Reads a number, checked against the JSON grammar; its text is kept up to 64 bytes.
    pub async fn read_number(&mut self) -> BodyResult<CappedText> {
        const INVALID: BodyError = BodyError::Invalid("Malformed JSON: invalid number");
        self.peek_token().await?;
        let mut text = CappedText::with_cap(64);
        // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, read byte by byte.
        let mut state = 0u8;
        loop {
            let byte = if self.fill().await? { Some(self.chunk[self.pos]) } else { None };
            let next_state = match (state, byte) {
                (0, Some(b'-')) => 1,
                (0 | 1, Some(b'0')) => 2,
                (0 | 1, Some(b'1'..=b'9')) => 3,
                (3, Some(b'0'..=b'9')) => 3,
                (2 | 3, Some(b'.')) => 4,
                (4 | 5, Some(b'0'..=b'9')) => 5,
                (2 | 3 | 5, Some(b'e' | b'E')) => 6,
                (6, Some(b'+' | b'-')) => 7,
                (6..=8, Some(b'0'..=b'9')) => 8,
                (2 | 3 | 5 | 8, _) => break,
                _ => return Err(INVALID),
            };
            state = next_state;
            if let Some(byte) = byte {
                text.push(&[byte]);
            }
            self.pos += 1;
        }
        Ok(text)
    }

    /// Reads `true`, `false` or `null`.
    pub async fn read_literal(&mut self) -> BodyResult<u8> {
        let first = self.peek_token().await?.ok_or(UNEXPECTED_END)?;
        let word: &[u8] = match first {
            b't' => b"true",
            b'f' => b"false",
            b'n' => b"null",
            _ => return Err(BodyError::Invalid("Malformed JSON: a value was expected")),
        };
        for expected in word {
            if self.next_byte().await? != *expected {
                return Err(BodyError::Invalid("Malformed JSON: invalid literal"));
            }
        }
        Ok(first)
    }

    /// Skips one value of any kind, checking its syntax, without recursion: containers are tracked on a small
    /// stack bounded by [`MAX_DEPTH`].
    pub async fn skip_value(&mut self) -> BodyResult<()> {
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value starts here.
            match self.peek_value().await? {
                // A container with members: its first value starts next.
                ValueStart::Object if self.begin_object().await?.is_some() => {
                    open.push(b'{');
                    if open.len() > MAX_DEPTH {
                        return Err(BodyError::Invalid("Malformed JSON: nested too deeply"));
                    }
                    continue;
                }
                ValueStart::Array if self.begin_array().await? => {
                    open.push(b'[');
                    if open.len() > MAX_DEPTH {
                        return Err(BodyError::Invalid("Malformed JSON: nested too deeply"));
                    }
                    continue;
                }
                // An empty container.
                ValueStart::Object | ValueStart::Array => {}
                ValueStart::String => self.read_string(&mut Discard).await?,
                ValueStart::Number => {
                    self.read_number().await?;
                }
                ValueStart::Literal(_) => {
                    self.read_literal().await?;
                }
            }
            // After a value: close what ends here, or go on with the next member or element.
            loop {
                match open.last() {
                    None => return Ok(()),
                    Some(b'{') => {
                        if self.next_key().await?.is_some() {
                            break;
                        }
                    }
                    Some(_) => {
                        if self.next_element().await? {
                            break;
                        }
                    }
                }
                open.pop();
            }
        }
    }
}
