//! type1-encoding-parser 0.1.1, lexing with this project's copy of adobe-cmap-parser in place of its own
//! `pom` grammar.
//!
//! `pdf-extract` reads the encoding of every embedded Type 1 font from the font program with this crate,
//! on every page; the grammar made that 50–75 % of the time spent on a CV set in such fonts. Only the
//! clear-text part of the program is lexed (up to `eexec`, after which it is encrypted binary, where the
//! grammar stopped too). `get_encoding_map` is the original's.

use std::collections::HashMap;

pub use adobe_cmap_parser::{Error, Value};

/// The values of the font program's clear-text part.
pub fn parse(input: &[u8]) -> Result<Vec<Value>, Error> {
    let clear_text = memmem(input, b"eexec").map_or(input, |end| &input[..end]);
    adobe_cmap_parser::parse(clear_text)
}

fn memmem(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The font's built-in encoding (`/Encoding 256 array … dup <code> /<glyph> put … def`): glyph names by
/// code; empty for a font on `StandardEncoding`.
pub fn get_encoding_map(input: &[u8]) -> Result<HashMap<u32, Vec<u8>>, &'static str> {
    let lexed = parse(input).expect("the lexer does not fail");
    let mut i = 0;
    let mut map = HashMap::new();
    while i < lexed.len() {
        match &lexed[i] {
            Value::Operator(operator) if operator == "array" => {
                let Some(Value::Integer(_)) = i.checked_sub(1).map(|before| &lexed[before]) else {
                    return Err("array expected int");
                };
                let Some(Value::Name(name)) = i.checked_sub(2).map(|before| &lexed[before]) else {
                    return Err("expected name");
                };
                i += 1;
                if name == b"Encoding" {
                    while i < lexed.len() {
                        match &lexed[i] {
                            Value::Operator(operator) if operator == "put" => {
                                let Some(Value::Name(name)) = lexed.get(i - 1) else { return Err("expected name") };
                                let Some(Value::Integer(id)) = i.checked_sub(2).map(|before| &lexed[before]) else {
                                    return Err("array expected int");
                                };
                                map.insert(*id as u32, name.clone());
                            }
                            Value::Operator(operator) if operator == "def" => break,
                            _ => {}
                        }
                        i += 1;
                    }
                }
            }
            _ => i += 1,
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FONT: &[u8] = b"%!PS-AdobeFont-1.0: CMR10 003.002
%%Title: CMR10
/FontName /CMR10 def
/PaintType 0 def
/FontMatrix [0.001 0 0 0.001 0 0] readonly def
/FontBBox {-40 -250 1009 750} readonly def
/Encoding 256 array
0 1 255 {1 index exch /.notdef put} for
dup 65 /A put
dup 233 /eacute put
readonly def
currentdict end
currentfile eexec
\x8f\x12(\xff}{ dup 66 /B put";

    #[test]
    fn the_built_in_encoding_is_read_up_to_the_encrypted_part() {
        let map = get_encoding_map(FONT).unwrap();
        assert_eq!(map[&65], b"A".to_vec());
        assert_eq!(map[&233], b"eacute".to_vec());
        // `1 index exch /.notdef put` inside the loop's procedure is not a `dup <code> /<name> put`.
        assert_eq!(map.len(), 2, "{map:?}");
    }

    #[test]
    fn a_standard_encoding_font_has_no_map() {
        assert!(get_encoding_map(b"/Encoding StandardEncoding def currentfile eexec").unwrap().is_empty());
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(parse(b"%foo\n\n%foo\ntrue").unwrap(), vec![Value::Boolean(true)]);
    }
}
