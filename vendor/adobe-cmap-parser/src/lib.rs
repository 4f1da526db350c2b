//! adobe-cmap-parser 0.4.1 with a hand-written lexer in place of its `pom` grammar (also used by this
//! project's copy of type1-encoding-parser, hence `Value::Procedure`).
//!
//! `pdf-extract` parses every font's ToUnicode CMap with this crate, on every page. The original
//! grammar built a boxed parser per token and formatted an error message for every alternative
//! it tried, which made CMap parsing 35–65 % of the time spent on a typical CV. This lexer yields
//! the same values for well-formed CMaps; on bytes it does not understand it skips a byte and
//! goes on, where the grammar stopped and returned what it had (losing the rest of the map).
//! `get_unicode_map` and `get_byte_mapping` are the original's, but for one fix: a `begincidrange`
//! entry has three values, and the original stepped over two, failing on any range after the first.

use std::collections::HashMap;

#[derive(Debug, PartialEq)]
pub enum Value {
    LiteralString(Vec<u8>),
    Name(Vec<u8>),
    Number(String),
    Integer(i64),
    Array(Vec<Value>),
    /// `{ … }`: a PostScript procedure (in Type 1 font programs; see the type1-encoding-parser copy).
    Procedure(Vec<Value>),
    Operator(String),
    Boolean(bool),
    Dictionary(HashMap<String, Value>),
}

/// The error type the original returned from `parse`; this lexer never fails.
#[derive(Debug)]
pub struct Error;

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cmap parse error")
    }
}

impl std::error::Error for Error {}

/// Nesting deeper than this (arrays, dictionaries, literal strings) ends the value: a CMap has
/// one or two levels; a hostile one must not overflow the stack.
const MAX_DEPTH: usize = 64;

pub fn parse(input: &[u8]) -> Result<Vec<Value>, Error> {
    let mut lexer = Lexer { input, pos: 0 };
    let mut values = Vec::new();
    loop {
        lexer.skip_space_and_comments();
        if lexer.pos >= input.len() {
            break;
        }
        match lexer.value(0) {
            Some(value) => values.push(value),
            // A byte that starts no value (a stray `)`, `]`, `>`, `}`…): skipped.
            None => lexer.pos += 1,
        }
    }
    Ok(values)
}

struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0C')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(byte, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(byte) = self.peek() {
            if is_space(byte) {
                self.pos += 1;
            } else if byte == b'%' {
                while let Some(byte) = self.peek() {
                    if byte == b'\r' || byte == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The value at the current position, or `None` (position unchanged) when none starts here.
    fn value(&mut self, depth: usize) -> Option<Value> {
        let byte = self.peek()?;
        match byte {
            b'/' => {
                self.pos += 1;
                Some(Value::Name(self.name()))
            }
            b'(' if depth < MAX_DEPTH => {
                self.pos += 1;
                Some(Value::LiteralString(self.literal_string()))
            }
            b'<' if self.input.get(self.pos + 1) == Some(&b'<') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.pos += 2;
                Some(Value::Dictionary(self.dictionary(depth + 1)))
            }
            b'<' => {
                self.pos += 1;
                Some(Value::LiteralString(self.hex_string()))
            }
            b'[' | b'{' if depth < MAX_DEPTH => {
                self.pos += 1;
                let close = if byte == b'[' { b']' } else { b'}' };
                let mut items = Vec::new();
                loop {
                    self.skip_space_and_comments();
                    match self.peek() {
                        None => break,
                        Some(b) if b == close => {
                            self.pos += 1;
                            break;
                        }
                        Some(_) => match self.value(depth + 1) {
                            Some(item) => items.push(item),
                            None => self.pos += 1,
                        },
                    }
                }
                Some(if byte == b'[' { Value::Array(items) } else { Value::Procedure(items) })
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number(),
            _ if byte.is_ascii_alphabetic() || matches!(byte, b'*' | b'\'' | b'"') => {
                let start = self.pos;
                while self.peek().is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'*' | b'\'' | b'"')) {
                    self.pos += 1;
                }
                let word = &self.input[start..self.pos];
                Some(match word {
                    b"true" => Value::Boolean(true),
                    b"false" => Value::Boolean(false),
                    // Letters and `*'"` only: always ASCII.
                    _ => Value::Operator(String::from_utf8_lossy(word).into_owned()),
                })
            }
            _ => None,
        }
    }

    /// A name's characters after `/`, with `#xx` escapes decoded.
    fn name(&mut self) -> Vec<u8> {
        let mut name = Vec::new();
        while let Some(byte) = self.peek() {
            if is_space(byte) || is_delimiter(byte) {
                break;
            }
            if byte == b'#' {
                let high = self.input.get(self.pos + 1).copied().and_then(hex_value);
                let low = self.input.get(self.pos + 2).copied().and_then(hex_value);
                if let (Some(high), Some(low)) = (high, low) {
                    name.push(high << 4 | low);
                    self.pos += 3;
                    continue;
                }
            }
            name.push(byte);
            self.pos += 1;
        }
        name
    }

    /// An integer, or a real kept as its text (as the original did).
    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let integer_digits = self.pos - digits_start;
        let mut fraction_digits = 0;
        let is_real = self.peek() == Some(b'.');
        if is_real {
            self.pos += 1;
            let fraction_start = self.pos;
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.pos += 1;
            }
            fraction_digits = self.pos - fraction_start;
        }
        if integer_digits + fraction_digits == 0 {
            self.pos = start;
            return None;
        }
        let text = std::str::from_utf8(&self.input[start..self.pos]).ok()?;
        if is_real {
            return Some(Value::Number(text.to_owned()));
        }
        // An integer too long for i64 is kept as text, like a real.
        Some(text.parse().map_or_else(|_| Value::Number(text.to_owned()), Value::Integer))
    }

    /// A literal string's bytes after `(`, escapes decoded, balanced parentheses kept.
    fn literal_string(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut open = 0usize;
        while let Some(byte) = self.peek() {
            self.pos += 1;
            match byte {
                b'(' => {
                    open += 1;
                    bytes.push(byte);
                }
                b')' if open == 0 => break,
                b')' => {
                    open -= 1;
                    bytes.push(byte);
                }
                b'\\' => self.escape(&mut bytes),
                _ => bytes.push(byte),
            }
        }
        bytes
    }

    fn escape(&mut self, bytes: &mut Vec<u8>) {
        let Some(byte) = self.peek() else { return };
        self.pos += 1;
        match byte {
            b'n' => bytes.push(b'\n'),
            b'r' => bytes.push(b'\r'),
            b't' => bytes.push(b'\t'),
            b'b' => bytes.push(b'\x08'),
            b'f' => bytes.push(b'\x0C'),
            b'0'..=b'7' => {
                let mut code = u32::from(byte - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(digit @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(digit - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                bytes.push(code as u8);
            }
            // A backslash before an end of line continues the string on the next line.
            b'\r' => {
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            b'\n' => {}
            // `\\`, `\(`, `\)`, and an unknown escape: the character itself.
            _ => bytes.push(byte),
        }
    }

    /// A hexadecimal string's bytes after `<`; white space is ignored and an odd last digit is
    /// followed by 0 (PDF 32000-1 §7.3.4.3).
    fn hex_string(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut high = None;
        while let Some(byte) = self.peek() {
            self.pos += 1;
            if byte == b'>' {
                break;
            }
            let Some(digit) = hex_value(byte) else { continue };
            match high.take() {
                None => high = Some(digit),
                Some(h) => bytes.push(h << 4 | digit),
            }
        }
        if let Some(h) = high {
            bytes.push(h << 4);
        }
        bytes
    }

    /// A dictionary's entries after `<<`, up to `>>`.
    fn dictionary(&mut self, depth: usize) -> HashMap<String, Value> {
        let mut dict = HashMap::new();
        loop {
            self.skip_space_and_comments();
            match self.peek() {
                None => break,
                Some(b'>') => {
                    self.pos += 1;
                    if self.peek() == Some(b'>') {
                        self.pos += 1;
                    }
                    break;
                }
                Some(b'/') => {
                    self.pos += 1;
                    let key = String::from_utf8_lossy(&self.name()).into_owned();
                    self.skip_space_and_comments();
                    if let Some(value) = self.value(depth) {
                        dict.insert(key, value);
                    }
                }
                Some(_) => {
                    if self.value(depth).is_none() {
                        self.pos += 1;
                    }
                }
            }
        }
        dict
    }
}

fn as_code(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |code, &byte| (code << 8) | u32::from(byte))
}

/// The integer before an operator (its entry count), the way the original read it.
fn count_before(lexed: &[Value], i: usize, error: &'static str) -> Result<i64, &'static str> {
    match i.checked_sub(1).map(|before| &lexed[before]) {
        Some(Value::Integer(count)) => Ok(*count),
        _ => Err(error),
    }
}

fn string_at<'v>(lexed: &'v [Value], i: usize, error: &'static str) -> Result<&'v Vec<u8>, &'static str> {
    match lexed.get(i) {
        Some(Value::LiteralString(bytes)) => Ok(bytes),
        _ => Err(error),
    }
}

/// Return a mapping from character codes to Unicode character sequences expressed in UTF-16BE encoding.
pub fn get_unicode_map(input: &[u8]) -> Result<HashMap<u32, Vec<u8>>, &'static str> {
    let lexed = parse(input).expect("the lexer does not fail");
    let mut i = 0;
    let mut map = HashMap::new();
    while i < lexed.len() {
        match &lexed[i] {
            Value::Operator(operator) if operator == "beginbfchar" => {
                let count = count_before(&lexed, i, "beginbfchar exected int")?;
                i += 1;
                for _ in 0..count {
                    let char_code = string_at(&lexed, i, "beginbfchar exected hexstring")?;
                    let uni_code = string_at(&lexed, i + 1, "beginbfchar exected hexstring")?;
                    map.insert(as_code(char_code), uni_code.clone());
                    i += 2;
                }
                i += 1;
            }
            Value::Operator(operator) if operator == "beginbfrange" => {
                let count = count_before(&lexed, i, "beginbfrange exected int")?;
                i += 1;
                for _ in 0..count {
                    let lower_code = as_code(string_at(&lexed, i, "beginbfrange exected hexstring")?);
                    let upper_code = as_code(string_at(&lexed, i + 1, "beginbfrange exected hexstring")?);
                    match lexed.get(i + 2) {
                        Some(Value::LiteralString(start)) => match start.len() {
                            4 => {
                                let val = as_code(start);
                                for c in lower_code..=upper_code {
                                    let code = val + (c - lower_code);
                                    map.insert(c, code.to_be_bytes().to_vec());
                                }
                            }
                            2 => {
                                let val = as_code(start) as u16;
                                for c in lower_code..=upper_code {
                                    let code = val + (c - lower_code) as u16;
                                    map.insert(c, code.to_be_bytes().to_vec());
                                }
                            }
                            _ => panic!("bad length of hexstring"),
                        },
                        Some(Value::Array(codes)) => {
                            if (upper_code - lower_code + 1) as usize != codes.len() {
                                return Err("bad length of array");
                            }
                            for (c, code) in (lower_code..=upper_code).zip(codes) {
                                let Value::LiteralString(code) = code else {
                                    return Err("beginbfrange exected hexstring");
                                };
                                map.insert(c, code.clone());
                            }
                        }
                        _ => return Err("beginbfrange exected array or literal"),
                    }
                    i += 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(map)
}

fn as_code_range(start_chars: &[u8], end_chars: &[u8]) -> CodeRange {
    assert!(start_chars.len() == end_chars.len());
    let width = start_chars.len() as u32 / 2;
    CodeRange { start: as_code(start_chars), end: as_code(end_chars), width }
}

#[derive(Debug)]
pub struct CodeRange {
    pub width: u32,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug)]
#[allow(non_snake_case)]
pub struct CIDRange {
    pub src_code_lo: u32,
    pub src_code_hi: u32,
    pub dst_CID_lo: u32,
}

#[derive(Debug)]
pub struct ByteMapping {
    pub codespace: Vec<CodeRange>,
    pub cid: Vec<CIDRange>,
}

pub fn get_byte_mapping(input: &[u8]) -> Result<ByteMapping, &'static str> {
    let lexed = parse(input).expect("the lexer does not fail");
    let mut i = 0;
    let mut result = ByteMapping { codespace: Vec::new(), cid: Vec::new() };
    while i < lexed.len() {
        match &lexed[i] {
            Value::Operator(operator) if operator == "begincodespacerange" => {
                let count = count_before(&lexed, i, "begincodespacerange exected int")?;
                i += 1;
                for _ in 0..count {
                    let start = string_at(&lexed, i, "begincodespacerange exected hexstring")?;
                    let end = string_at(&lexed, i + 1, "begincodespacerange exected hexstring")?;
                    result.codespace.push(as_code_range(start, end));
                    i += 2;
                }
                i += 1;
            }
            Value::Operator(operator) if operator == "begincidrange" => {
                let count = count_before(&lexed, i, "begincidrange exected int")?;
                i += 1;
                for _ in 0..count {
                    let start = string_at(&lexed, i, "begincidrange exected hexstring")?;
                    let end = string_at(&lexed, i + 1, "begincidrange exected hexstring")?;
                    let Some(Value::Integer(offset)) = lexed.get(i + 2) else {
                        return Err("begincidrange exected int");
                    };
                    result.cid.push(CIDRange {
                        src_code_lo: as_code(start),
                        src_code_hi: as_code(end),
                        dst_CID_lo: *offset as u32,
                    });
                    i += 3;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO_UNICODE: &[u8] = b"%!PS-Adobe-3.0 Resource-CMap
%%DocumentNeededResources: ProcSet (CIDInit)
/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
3 beginbfchar
<0003> <0020>
<0011><002E>
<00 1C> <0066 0069>
endbfchar
2 beginbfrange
<0024> <0026> <0041>
<0030> <0031> [<00E9> <D835DC00>]
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
";

    #[test]
    fn a_to_unicode_cmap_maps_chars_and_ranges() {
        let map = get_unicode_map(TO_UNICODE).unwrap();
        assert_eq!(map[&0x03], vec![0x00, 0x20]);
        assert_eq!(map[&0x11], vec![0x00, 0x2E]);
        assert_eq!(map[&0x1C], vec![0x00, 0x66, 0x00, 0x69]);
        assert_eq!(map[&0x24], vec![0x00, 0x41]);
        assert_eq!(map[&0x26], vec![0x00, 0x43]);
        assert_eq!(map[&0x30], vec![0x00, 0xE9]);
        assert_eq!(map[&0x31], vec![0xD8, 0x35, 0xDC, 0x00]);
        assert_eq!(map.len(), 8);
    }

    #[test]
    fn the_codespace_and_cid_ranges_are_read() {
        let cmap = b"1 begincodespacerange <00> <80> endcodespacerange
            2 begincidrange <20> <7e> 1 <8140> <817e> 633 endcidrange";
        let mapping = get_byte_mapping(cmap).unwrap();
        assert_eq!(mapping.codespace.len(), 1);
        assert_eq!((mapping.codespace[0].start, mapping.codespace[0].end), (0x00, 0x80));
        assert_eq!(mapping.cid.len(), 2);
        assert_eq!(
            (mapping.cid[1].src_code_lo, mapping.cid[1].src_code_hi, mapping.cid[1].dst_CID_lo),
            (0x8140, 0x817e, 633)
        );
    }

    #[test]
    fn tokens_are_lexed_as_the_pdf_syntax_says() {
        let values = parse(
            b"true false -12 3.5 .5 /A#20b (x\\(y\\)\\101\\\n(z)) <4 1 4> [1 /N] << /K 1 /L [2] >> op* % c\nnext",
        )
        .unwrap();
        assert_eq!(values[0], Value::Boolean(true));
        assert_eq!(values[1], Value::Boolean(false));
        assert_eq!(values[2], Value::Integer(-12));
        assert_eq!(values[3], Value::Number("3.5".into()));
        assert_eq!(values[4], Value::Number(".5".into()));
        assert_eq!(values[5], Value::Name(b"A b".to_vec()));
        assert_eq!(values[6], Value::LiteralString(b"x(y)A(z)".to_vec()));
        assert_eq!(values[7], Value::LiteralString(vec![0x41, 0x40]));
        assert_eq!(values[8], Value::Array(vec![Value::Integer(1), Value::Name(b"N".to_vec())]));
        let Value::Dictionary(dict) = &values[9] else { panic!("{:?}", values[9]) };
        assert_eq!(dict["K"], Value::Integer(1));
        assert_eq!(dict["L"], Value::Array(vec![Value::Integer(2)]));
        assert_eq!(values[10], Value::Operator("op*".into()));
        assert_eq!(values[11], Value::Operator("next".into()));
        assert_eq!(values.len(), 12);
    }

    #[test]
    fn stray_bytes_are_skipped_and_the_rest_is_read() {
        let values = parse(b") ] } > 1 beginbfchar <01> <0041> endbfchar").unwrap();
        assert_eq!(values.len(), 5);
        assert_eq!(get_unicode_map(b") ] } > 1 beginbfchar <01> <0041> endbfchar").unwrap()[&1], vec![0, 0x41]);
    }

    #[test]
    fn deep_nesting_ends_without_overflowing_the_stack() {
        let mut input = vec![b'['; 100_000];
        input.extend_from_slice(b"1 beginbfchar <01> <0041> endbfchar");
        assert!(parse(&input).is_ok());
        let mut strings = vec![b'('; 100_000];
        strings.extend_from_slice(&[b')'; 100_000]);
        assert!(parse(&strings).is_ok());
    }
}
