//! The document's fonts, made ready for `pdf-extract` once per document: fonts it refuses or misreads are
//! rewritten into forms it reads right, and the embedded font programs are cut to what it reads.

use std::collections::HashSet;

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

pub(super) fn prepare_fonts(document: &mut Document) {
    patch_fonts(document);
    ignore_cff_encodings_overridden_by_differences(document);
    slim_font_programs(document);
}

fn name_is(dict: &Dictionary, key: &[u8], value: &[u8]) -> bool {
    dict.get(key).ok().and_then(|o| o.as_name().ok()).is_some_and(|name| name == value)
}

/// Works around fonts `pdf-extract` refuses or misreads:
/// - a composite font with a predefined CMap other than Identity is read as Identity (the codes of UTF-16 and
///   most CJK CMaps are two bytes too; it panics on the others, losing the whole page). When that CMap's codes
///   are Unicode (`Uni…-UCS2-…`, `Uni…-UTF16-…`: fonts that are not embedded, so have no other way to Unicode),
///   a ToUnicode map giving each code itself is added, or their text would be lost.
/// - a simple font with neither an encoding nor a Type 1 program to take one from gets WinAnsiEncoding (the same
///   letters and digits as the standard encoding the PDF specification defaults to, which `pdf-extract` does
///   not know).
fn patch_fonts(document: &mut Document) {
    let descriptors_with_type1_program: HashSet<ObjectId> = document
        .objects
        .iter()
        .filter_map(|(id, object)| object.as_dict().ok()?.has(b"FontFile").then_some(*id))
        .collect();
    let mut unicode_cmap_fonts = Vec::new();
    for (id, object) in document.objects.iter_mut() {
        let dict = match object {
            Object::Dictionary(dict) => dict,
            Object::Stream(stream) => &mut stream.dict,
            _ => continue,
        };
        if !name_is(dict, b"Type", b"Font") {
            continue;
        }
        if name_is(dict, b"Subtype", b"Type0") {
            let Some(encoding) = dict.get(b"Encoding").ok().and_then(|o| o.as_name().ok()) else { continue };
            if encoding == b"Identity-H" || encoding == b"Identity-V" {
                continue;
            }
            if is_unicode_cmap(encoding) && !dict.has(b"ToUnicode") {
                unicode_cmap_fonts.push(*id);
            }
            dict.set("Encoding", Object::Name(b"Identity-H".to_vec()));
        } else if name_is(dict, b"Subtype", b"Type1") || name_is(dict, b"Subtype", b"MMType1") {
            let has_type1_program = match dict.get(b"FontDescriptor").ok() {
                Some(Object::Reference(id)) => descriptors_with_type1_program.contains(id),
                Some(Object::Dictionary(descriptor)) => descriptor.has(b"FontFile"),
                _ => true,
            };
            if !dict.has(b"Encoding") && !has_type1_program {
                dict.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
            }
        }
    }
    if !unicode_cmap_fonts.is_empty() {
        let to_unicode = document.add_object(Stream::new(Dictionary::new(), identity_utf16_cmap()));
        for id in unicode_cmap_fonts {
            if let Ok(font) = document.get_object_mut(id).and_then(Object::as_dict_mut) {
                font.set("ToUnicode", Object::Reference(to_unicode));
            }
        }
    }
}

/// Adobe's predefined CMaps whose codes are Unicode code units: `UniJIS-UCS2-H`, `UniGB-UTF16-V`, …
fn is_unicode_cmap(name: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name);
    name.starts_with("Uni") && (name.contains("-UCS2-") || name.contains("-UTF16-"))
}

/// A ToUnicode map giving every UTF-16 code unit outside the surrogates itself, 256 codes per range.
fn identity_utf16_cmap() -> Vec<u8> {
    let ranges: Vec<String> = (0x00..=0xFFu16)
        .filter(|high| !(0xD8..=0xDF).contains(high))
        .map(|high| format!("<{high:02X}00> <{high:02X}FF> <{high:02X}00>"))
        .collect();
    two_byte_to_unicode_cmap("TalqoIdentity-UTF16", "bfrange", &ranges)
}

/// A ToUnicode CMap over two-byte codes named `name`: `entries` are `bfchar` lines (`<code> <text>`) or `bfrange`
/// lines (`<first> <last> <text of first>`), as `operator` says, written at most 100 per block (PDF 32000-1
/// §9.10.3).
pub(super) fn two_byte_to_unicode_cmap(name: &str, operator: &str, entries: &[String]) -> Vec<u8> {
    let mut cmap = format!(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /{name} def\n\
         /CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
    );
    for block in entries.chunks(100) {
        cmap.push_str(&format!("{} begin{operator}\n", block.len()));
        for entry in block {
            cmap.push_str(entry);
            cmap.push('\n');
        }
        cmap.push_str(&format!("end{operator}\n"));
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    cmap.into_bytes()
}

/// A simple font with an `/Encoding` dictionary and a compact font program (`FontFile3`): the dictionary's
/// `/Differences` name the glyphs and take precedence (PDF 32000-1 §9.6.6.1), but `pdf-extract` lets the
/// program's built-in encoding win where both give a code (TeX's `Ä` read as StandardEncoding's `˜`). The
/// program is removed from the font's descriptor, so the glyph names are read instead (the outlines never are).
fn ignore_cff_encodings_overridden_by_differences(document: &mut Document) {
    let mut descriptors = HashSet::new();
    for object in document.objects.values() {
        let Ok(font) = object.as_dict() else { continue };
        if !name_is(font, b"Type", b"Font")
            || !(name_is(font, b"Subtype", b"Type1") || name_is(font, b"Subtype", b"MMType1"))
        {
            continue;
        }
        let Ok(Object::Reference(descriptor)) = font.get(b"FontDescriptor") else { continue };
        let encoding = match font.get(b"Encoding") {
            Ok(Object::Reference(id)) => document.get_object(*id).ok(),
            Ok(other) => Some(other),
            Err(_) => None,
        };
        if encoding.and_then(|o| o.as_dict().ok()).is_some_and(|dict| dict.has(b"Differences")) {
            descriptors.insert(*descriptor);
        }
    }
    for id in descriptors {
        if let Ok(descriptor) = document.get_object_mut(id).and_then(Object::as_dict_mut) {
            descriptor.remove(b"FontFile3");
        }
    }
}

/// Keeps of the embedded font programs only what `pdf-extract` reads, once per document instead of once per
/// page and font: a Type 1 program (`FontFile`) is decompressed and cut after its clear-text part (where its
/// built-in encoding is; the rest is encrypted glyph outlines), and a TrueType program (`FontFile2`), which it
/// decompresses and drops unread, is emptied. Together they were a quarter of the time spent on some CVs.
fn slim_font_programs(document: &mut Document) {
    let mut type1 = Vec::new();
    let mut truetype = Vec::new();
    for object in document.objects.values() {
        let Ok(descriptor) = object.as_dict() else { continue };
        if let Ok(Object::Reference(id)) = descriptor.get(b"FontFile") {
            type1.push(*id);
        }
        if let Ok(Object::Reference(id)) = descriptor.get(b"FontFile2") {
            truetype.push(*id);
        }
    }
    for (id, keep_clear_text) in
        type1.into_iter().map(|id| (id, true)).chain(truetype.into_iter().map(|id| (id, false)))
    {
        let Some(Object::Stream(stream)) = document.objects.get_mut(&id) else { continue };
        let content = match keep_clear_text {
            true => {
                let Ok(mut program) = stream.decompressed_content() else { continue };
                if let Some(at) = memchr::memmem::find(&program, b"eexec") {
                    program.truncate(at + b"eexec".len());
                }
                program
            }
            false => Vec::new(),
        };
        stream.set_plain_content(content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_cmaps_are_told_from_the_others() {
        for name in ["UniJIS-UCS2-H", "UniGB-UTF16-V", "UniKS-UCS2-HW-H", "UniCNS-UTF16-H"] {
            assert!(is_unicode_cmap(name.as_bytes()), "{name}");
        }
        for name in ["90ms-RKSJ-H", "GBK-EUC-H", "Identity-H", "UniJIS-UTF8-H", "UniJIS-UTF32-H"] {
            assert!(!is_unicode_cmap(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn the_identity_map_gives_each_code_unit_itself_and_skips_surrogates() {
        let map = adobe_cmap_parser::get_unicode_map(&identity_utf16_cmap()).unwrap();
        for (code, text) in [(0x0041u32, "A"), (0x00C4, "Ä"), (0x65E5, "日"), (0xFFFD, "\u{FFFD}")] {
            let utf16: Vec<u16> = map[&code].chunks(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
            assert_eq!(String::from_utf16(&utf16).unwrap(), text, "{code:04X}");
        }
        assert!(!map.contains_key(&0xD800));
        assert_eq!(map.len(), 0x10000 - 0x800);
    }
}
