//! Page contents made ready for `pdf-extract`, with marked content's `/ActualText` applied.
//!
//! PDF 32000-1 §14.9.4: text marked with an `/ActualText` property (`/Span <</ActualText (…)>> BDC … EMC`)
//! is to be read as that text, not as the glyphs drawn. Producers use it for what the glyphs alone do not
//! say: CV templates draw an envelope icon marked `email:` and a link marked `mailto:…`, ligatures and
//! hyphenated words carry their letters there. `pdf-extract` ignores marked content, so the page's content
//! stream is rewritten here: inside such a span the text-showing operators are dropped and the actual text
//! is shown instead, once, where the span's first text was, in a font added for it whose ToUnicode map gives
//! back the text's own characters.
//!
//! The pages' content is decompressed here (by two threads) and put back as one plain stream, so that
//! `pdf-extract` does not decompress it again: the look for `/ActualText` costs no second decompression.

use std::collections::BTreeSet;

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream, StringFormat};

use super::fonts::two_byte_to_unicode_cmap;

/// The name under which the added font is put in a rewritten page's font resources.
const FONT_NAME: &[u8] = b"TalqoActualText";

/// Pages prepared at most, and decompressed bytes at most: past either (a document of thousands of pages,
/// far longer than a CV), the remaining pages are left as they are, and read without `/ActualText`.
const MAX_PREPARED_PAGES: usize = 1_000;
const MAX_PREPARED_BYTES: usize = 32 << 20;

/// Decompresses the pages' content into one plain stream each, and rewrites the pages with `/ActualText`
/// spans. A page whose content cannot be read is left as it was (`pdf-extract` reports it).
pub(crate) fn prepare_page_contents(document: &mut Document) {
    let mut pages: Vec<ObjectId> = document.get_pages().into_values().collect();
    pages.truncate(MAX_PREPARED_PAGES);
    let contents = decompress_pages(document, &pages);
    let mut rewritten = Vec::new();
    let mut characters = BTreeSet::new();
    let mut prepared_bytes = 0;
    for (page_id, content) in pages.iter().zip(contents) {
        let Some(content) = content else { continue };
        if prepared_bytes > MAX_PREPARED_BYTES {
            break;
        }
        let properties = page_properties(document, *page_id);
        let content = match has_actual_text(&content, &properties) {
            true => match rewrite(document, &content, &properties, &mut characters) {
                Some(new_content) => {
                    rewritten.push(*page_id);
                    new_content
                }
                None => content,
            },
            false => content,
        };
        prepared_bytes += content.len();
        let stream = document.add_object(Stream::new(Dictionary::new(), content));
        if let Ok(page) = document.get_object_mut(*page_id).and_then(Object::as_dict_mut) {
            page.set("Contents", Object::Reference(stream));
        }
    }
    if rewritten.is_empty() {
        return;
    }
    let font = add_font(document, &characters);
    for page_id in rewritten {
        add_font_to_page(document, page_id, font);
    }
}

/// Each page's content, decompressed, by two threads; `None` for a page without readable content, and for
/// the pages after [`MAX_PREPARED_BYTES`] (each thread counts its own half).
fn decompress_pages(document: &Document, pages: &[ObjectId]) -> Vec<Option<Vec<u8>>> {
    let read_all = |pages: &[ObjectId]| {
        let mut bytes = 0;
        let mut contents = Vec::with_capacity(pages.len());
        for page_id in pages {
            let content = (bytes <= MAX_PREPARED_BYTES / 2 && !document.get_page_contents(*page_id).is_empty())
                .then(|| document.get_page_content(*page_id).ok())
                .flatten();
            bytes += content.as_ref().map_or(0, Vec::len);
            contents.push(content);
        }
        contents
    };
    if pages.len() < 2 {
        return read_all(pages);
    }
    let (first, second) = pages.split_at(pages.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| read_all(second));
        let mut contents = read_all(first);
        // A panic while decompressing is the parser's; the worker reports it as it does any other.
        contents.extend(other.join().unwrap_or_else(|payload| std::panic::resume_unwind(payload)));
        contents
    })
}

/// The page's `/Properties` resources (named marked-content property lists), inherited as resources are.
fn page_properties(document: &Document, page_id: ObjectId) -> Dictionary {
    let Some(resources) = page_resources(document, page_id) else { return Dictionary::new() };
    resources
        .get(b"Properties")
        .ok()
        .and_then(|properties| deref(document, properties).as_dict().ok())
        .cloned()
        .unwrap_or_default()
}

/// The page's resources: its own, or the nearest ancestor's in the page tree.
fn page_resources(document: &Document, page_id: ObjectId) -> Option<&Dictionary> {
    let mut node = document.get_dictionary(page_id).ok()?;
    // The page tree is at most a few levels deep; a cycle must not hang.
    for _ in 0..32 {
        if let Ok(resources) = node.get(b"Resources") {
            return deref(document, resources).as_dict().ok();
        }
        node = document.get_dictionary(node.get(b"Parent").ok()?.as_reference().ok()?).ok()?;
    }
    None
}

fn deref<'a>(document: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => document.get_object(*id).unwrap_or(object),
        _ => object,
    }
}

fn has_actual_text(content: &[u8], properties: &Dictionary) -> bool {
    let mentions = |word: &[u8]| memchr::memmem::find(content, word).is_some();
    mentions(b"ActualText")
        || (!properties.is_empty() && properties.iter().any(|(_, p)| is_actual(p)) && mentions(b"BDC"))
}

fn is_actual(properties: &Object) -> bool {
    properties.as_dict().is_ok_and(|dict| dict.has(b"ActualText"))
}

/// The `/ActualText` of a `BDC` operation, from its inline property list or the named one.
fn actual_text_of(document: &Document, operation: &Operation, properties: &Dictionary) -> Option<String> {
    let list = match operation.operands.get(1)? {
        Object::Dictionary(dict) => dict,
        Object::Name(name) => deref(document, properties.get(name).ok()?).as_dict().ok()?,
        _ => return None,
    };
    match deref(document, list.get(b"ActualText").ok()?) {
        Object::String(bytes, _) => Some(decode_text_string(bytes)),
        _ => None,
    }
}

/// A PDF text string (§7.9.2.2): UTF-16BE or UTF-8 after their byte-order mark, else PDFDocEncoding, which
/// matches Latin-1 for the printable characters.
fn decode_text_string(bytes: &[u8]) -> String {
    if let Some(utf16) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = utf16.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(utf8) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(utf8).into_owned();
    }
    bytes.iter().map(|&byte| char::from(byte)).collect()
}

/// The page's content with its `/ActualText` spans applied; `None` when it has no such span after all.
/// `characters` gathers the characters shown, for the added font's ToUnicode map.
///
/// The content is split into operations by [`operations`], a lexer that only finds where each operation
/// starts and ends: the page is edited as bytes, because decoding it into objects here as well as in
/// `pdf-extract` would cost as much again as reading the page.
fn rewrite(
    document: &Document,
    content: &[u8],
    properties: &Dictionary,
    characters: &mut BTreeSet<u16>,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() + 256);
    let mut copied = 0;
    // One entry per open BMC/BDC: whether it is the outermost span with an actual text.
    let mut marks: Vec<bool> = Vec::new();
    // The actual text of the open span, until it has been shown.
    let mut pending: Option<String> = None;
    let mut inside_span = false;
    // The operands of the last `Tf` (font name and size), to select that font again.
    let mut font: Option<(&[u8], &[u8])> = None;
    let mut replaced = false;
    for operation in operations(content) {
        let operands = &content[operation.start..operation.operator_start];
        match &content[operation.operator_start..operation.end] {
            b"BDC" if !inside_span => {
                let actual = Content::decode(&content[operation.start..operation.end])
                    .ok()
                    .and_then(|decoded| decoded.operations.into_iter().next())
                    .and_then(|decoded| actual_text_of(document, &decoded, properties));
                marks.push(actual.is_some());
                if let Some(actual) = actual {
                    inside_span = true;
                    pending = Some(actual);
                    replaced = true;
                }
            }
            b"BDC" | b"BMC" => marks.push(false),
            // Every EMC closes a mark (the guard pops it); the outermost actual-text one ends the span.
            b"EMC" if marks.pop() == Some(true) => {
                inside_span = false;
                pending = None;
            }
            b"Tf" => {
                if let [name, size] = operand_tokens(operands)[..] {
                    font = Some((name, size));
                }
            }
            operator @ (b"Tj" | b"TJ" | b"'" | b"\"") if inside_span => {
                out.extend_from_slice(&content[copied..operation.start]);
                copied = operation.end;
                // `'` and `"` move to the next line (`"` setting the spacings first): keep that.
                if operator == b"\""
                    && let [word_spacing, char_spacing, _] = operand_tokens(operands)[..]
                {
                    out.extend_from_slice(word_spacing);
                    out.extend_from_slice(b" Tw ");
                    out.extend_from_slice(char_spacing);
                    out.extend_from_slice(b" Tc ");
                }
                if operator == b"'" || operator == b"\"" {
                    out.extend_from_slice(b"T* ");
                }
                if let Some(actual) = pending.take() {
                    show_actual_text(&mut out, &actual, font, characters);
                }
            }
            _ => {}
        }
    }
    if !replaced {
        return None;
    }
    out.extend_from_slice(&content[copied..]);
    Some(out)
}

/// Shows `actual` in the added font at the current font size, then selects the current font again.
fn show_actual_text(out: &mut Vec<u8>, actual: &str, font: Option<(&[u8], &[u8])>, characters: &mut BTreeSet<u16>) {
    // Characters outside the Basic Multilingual Plane (emoji) are left out: one code per character.
    let codes: Vec<u16> = actual.chars().filter_map(|c| u16::try_from(u32::from(c)).ok()).collect();
    if codes.is_empty() {
        return;
    }
    characters.extend(&codes);
    out.push(b'/');
    out.extend_from_slice(FONT_NAME);
    out.push(b' ');
    out.extend_from_slice(font.map_or(&b"10"[..], |(_, size)| size));
    out.extend_from_slice(b" Tf <");
    for code in codes {
        out.extend_from_slice(format!("{code:04X}").as_bytes());
    }
    out.extend_from_slice(b"> Tj ");
    if let Some((name, size)) = font {
        out.extend_from_slice(name);
        out.push(b' ');
        out.extend_from_slice(size);
        out.extend_from_slice(b" Tf ");
    }
}

/// Where an operation of a content stream lies: its operands from `start`, its operator from
/// `operator_start` to `end`.
struct Span {
    start: usize,
    operator_start: usize,
    end: usize,
}

/// The operations of a content stream, found by a lexer that knows strings, names, arrays, dictionaries,
/// comments and inline images well enough to step over them.
fn operations(content: &[u8]) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut lexer = Lexer { bytes: content, pos: 0 };
    let mut depth = 0usize;
    let mut start = None;
    while let Some((token_start, token)) = lexer.next_token() {
        let token_end = lexer.pos;
        match token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Operand => {}
            Token::Word if depth > 0 => {}
            Token::Word => {
                let operation_start = start.take().unwrap_or(token_start);
                let word = &content[token_start..token_end];
                if word == b"ID" {
                    lexer.skip_inline_image_data();
                }
                spans.push(Span { start: operation_start, operator_start: token_start, end: token_end });
                continue;
            }
        }
        start.get_or_insert(token_start);
    }
    spans
}

/// The operand tokens of one operation (names, numbers, strings), as bytes.
fn operand_tokens(operands: &[u8]) -> Vec<&[u8]> {
    let mut lexer = Lexer { bytes: operands, pos: 0 };
    let mut tokens = Vec::new();
    while let Some((start, _)) = lexer.next_token() {
        tokens.push(&operands[start..lexer.pos]);
    }
    tokens
}

enum Token {
    /// `[` or `<<` (or `{`).
    Open,
    /// `]` or `>>` (or `}`).
    Close,
    /// A string, a name, a number, `true`, `false` or `null`.
    Operand,
    /// An operator.
    Word,
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn is_white(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0C')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(byte, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

impl Lexer<'_> {
    /// The next token and where it starts; `self.pos` is left after it.
    fn next_token(&mut self) -> Option<(usize, Token)> {
        loop {
            let byte = *self.bytes.get(self.pos)?;
            if is_white(byte) {
                self.pos += 1;
            } else if byte == b'%' {
                while self.bytes.get(self.pos).is_some_and(|&b| b != b'\n' && b != b'\r') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
        let start = self.pos;
        let byte = self.bytes[start];
        self.pos += 1;
        let token = match byte {
            b'(' => {
                let mut open = 1usize;
                while let Some(&b) = self.bytes.get(self.pos) {
                    self.pos += 1;
                    match b {
                        b'\\' => self.pos += 1,
                        b'(' => open += 1,
                        b')' => {
                            open -= 1;
                            if open == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                self.pos = self.pos.min(self.bytes.len());
                Token::Operand
            }
            b'<' if self.bytes.get(self.pos) == Some(&b'<') => {
                self.pos += 1;
                Token::Open
            }
            b'>' if self.bytes.get(self.pos) == Some(&b'>') => {
                self.pos += 1;
                Token::Close
            }
            b'<' => {
                while self.bytes.get(self.pos).is_some_and(|&b| b != b'>') {
                    self.pos += 1;
                }
                self.pos = (self.pos + 1).min(self.bytes.len());
                Token::Operand
            }
            b'[' | b'{' => Token::Open,
            b']' | b'}' => Token::Close,
            b'/' => {
                self.skip_regular();
                Token::Operand
            }
            // A stray `)` or `>`: stepped over.
            b')' | b'>' => Token::Operand,
            _ => {
                self.skip_regular();
                match &self.bytes[start..self.pos] {
                    [b'0'..=b'9' | b'+' | b'-' | b'.', ..] | b"true" | b"false" | b"null" => Token::Operand,
                    _ => Token::Word,
                }
            }
        };
        Some((start, token))
    }

    fn skip_regular(&mut self) {
        while self.bytes.get(self.pos).is_some_and(|&b| !is_white(b) && !is_delimiter(b)) {
            self.pos += 1;
        }
    }

    /// After `ID`: one white-space byte, then binary data up to an `EI` between white space (or the end).
    fn skip_inline_image_data(&mut self) {
        self.pos += 1;
        while self.pos < self.bytes.len() {
            let Some(found) = memchr::memmem::find(&self.bytes[self.pos..], b"EI") else {
                self.pos = self.bytes.len();
                return;
            };
            let at = self.pos + found;
            let before = at.checked_sub(1).and_then(|i| self.bytes.get(i)).is_none_or(|&b| is_white(b));
            let after = self.bytes.get(at + 2).is_none_or(|&b| is_white(b) || is_delimiter(b));
            if before && after {
                self.pos = at;
                return;
            }
            self.pos = at + 2;
        }
    }
}

/// A composite font whose codes are UTF-16 code units, each mapped to itself by its ToUnicode map. Its glyphs
/// have no width (`/DW 0`): the actual text stands where the span's glyphs began, and the layout gives each
/// glyph of unknown width an average one.
fn add_font(document: &mut Document, characters: &BTreeSet<u16>) -> ObjectId {
    let entries: Vec<String> = characters
        .iter()
        .filter(|code| !(0xD800..=0xDFFF).contains(*code))
        .map(|code| format!("<{code:04X}> <{code:04X}>"))
        .collect();
    let cmap = two_byte_to_unicode_cmap("TalqoActualText-UCS", "bfchar", &entries);
    let to_unicode = document.add_object(Stream::new(Dictionary::new(), cmap));

    let name = || Object::Name(FONT_NAME.to_vec());
    let mut descriptor = Dictionary::new();
    descriptor.set("Type", Object::Name(b"FontDescriptor".to_vec()));
    descriptor.set("FontName", name());
    descriptor.set("Flags", Object::Integer(32));
    let mut system_info = Dictionary::new();
    system_info.set("Registry", Object::String(b"Adobe".to_vec(), StringFormat::Literal));
    system_info.set("Ordering", Object::String(b"Identity".to_vec(), StringFormat::Literal));
    system_info.set("Supplement", Object::Integer(0));
    let mut descendant = Dictionary::new();
    descendant.set("Type", Object::Name(b"Font".to_vec()));
    descendant.set("Subtype", Object::Name(b"CIDFontType2".to_vec()));
    descendant.set("BaseFont", name());
    descendant.set("CIDSystemInfo", Object::Dictionary(system_info));
    descendant.set("FontDescriptor", Object::Dictionary(descriptor));
    descendant.set("DW", Object::Integer(0));
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Subtype", Object::Name(b"Type0".to_vec()));
    font.set("BaseFont", name());
    font.set("Encoding", Object::Name(b"Identity-H".to_vec()));
    font.set("DescendantFonts", Object::Array(vec![Object::Dictionary(descendant)]));
    font.set("ToUnicode", Object::Reference(to_unicode));
    document.add_object(Object::Dictionary(font))
}

/// Gives the page its own copy of its resources with the added font in them (resources are often shared
/// between pages; the others are left as they are).
fn add_font_to_page(document: &mut Document, page_id: ObjectId, font: ObjectId) {
    let mut resources = page_resources(document, page_id).cloned().unwrap_or_default();
    let mut fonts = resources
        .get(b"Font")
        .ok()
        .and_then(|fonts| deref(document, fonts).as_dict().ok())
        .cloned()
        .unwrap_or_default();
    fonts.set(FONT_NAME, Object::Reference(font));
    resources.set("Font", Object::Dictionary(fonts));
    if let Ok(page) = document.get_object_mut(page_id).and_then(Object::as_dict_mut) {
        page.set("Resources", Object::Dictionary(resources));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_strings_are_decoded_by_their_byte_order_mark() {
        assert_eq!(decode_text_string(b"email: "), "email: ");
        assert_eq!(decode_text_string(&[0xFE, 0xFF, 0x00, 0xE9, 0x06, 0x27]), "éا");
        assert_eq!(decode_text_string(&[0xEF, 0xBB, 0xBF, 0xC3, 0xA9]), "é");
        assert_eq!(decode_text_string(&[0x43, 0xF3]), "Có");
    }

    #[test]
    fn a_span_s_text_operators_give_way_to_its_actual_text_once() {
        let content = b"BT /F1 9 Tf 10 700 Td (\\203) Tj ET\n/Span <</ActualText (phone: )>> BDC BT /F2 8 Tf 20 700 Td [(+)] TJ (x) ' ET EMC\nBT (after) Tj ET";
        let document = Document::new();
        let mut characters = BTreeSet::new();
        let rewritten = rewrite(&document, content, &Dictionary::new(), &mut characters).unwrap();
        let operations = Content::decode(&rewritten).unwrap().operations;
        let shown: Vec<String> = operations
            .iter()
            .filter(|op| op.operator == "Tj" || op.operator == "TJ")
            .map(|op| format!("{:?}", op.operands))
            .collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        let actual =
            operations.iter().find(|op| op.operator == "Tj" && op.operands[0].as_str().is_ok_and(|s| s.len() == 14));
        let bytes = actual.expect("the actual text is shown").operands[0].as_str().unwrap().to_vec();
        let units: Vec<u16> = bytes.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])).collect();
        assert_eq!(String::from_utf16(&units).unwrap(), "phone: ");
        // The span's font is selected again after the actual text, and `'` still moves to the next line.
        let names: Vec<String> = operations
            .iter()
            .filter(|op| op.operator == "Tf")
            .map(|op| String::from_utf8_lossy(op.operands[0].as_name().unwrap()).into_owned())
            .collect();
        assert_eq!(names, ["F1", "F2", "TalqoActualText", "F2"]);
        assert!(operations.iter().any(|op| op.operator == "T*"));
        assert!(characters.contains(&u16::from(b'p')));
    }

    #[test]
    fn a_page_without_actual_text_is_not_rewritten() {
        let document = Document::new();
        let content = b"/P <</MCID 0>> BDC BT (plain) Tj ET EMC";
        assert!(!has_actual_text(content, &Dictionary::new()));
        assert_eq!(rewrite(&document, content, &Dictionary::new(), &mut BTreeSet::new()), None);
    }
}
