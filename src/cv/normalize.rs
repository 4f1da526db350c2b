//! Clean-up of extracted CV text: one shape of text for the scorer and for storage, whatever the
//! parser produced.

use std::borrow::Cow;

use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Normalises extracted text and truncates it to `max_chars` characters:
/// - Unicode NFC, so `e` + combining acute (as some PDFs encode it) reads as `é`;
/// - line breaks unified to `\n` (`\r\n`, `\r`, form feed, vertical tab, U+2028/U+2029);
/// - NUL, the byte-order mark and soft hyphens dropped, other control characters (except `\n` and `\t`)
///   replaced by a space, so nothing downstream (PostgreSQL text, JSON, a prompt) chokes on them;
/// - each line trimmed and its runs of spaces collapsed (PDF layout spacing);
/// - at most one blank line in a row, and none at the start or end.
///
/// Idempotent: the child normalises before it truncates, so the character budget is spent on
/// text rather than layout whitespace, and the parent normalises again because it does not
/// trust the child's output.
pub(crate) fn normalize_extracted_text(raw: &str, max_chars: usize) -> String {
    let mut cleaned = String::with_capacity(raw.len().min(max_chars.saturating_mul(4)));
    // Most text is already NFC (checked in one quick pass); recomposing it anyway cost a tenth of a CV's time.
    let composed: Cow<'_, str> = if is_nfc(raw) { Cow::Borrowed(raw) } else { Cow::Owned(raw.nfc().collect()) };
    let mut chars = composed.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    cleaned.push('\n');
                }
            }
            '\n' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}' => cleaned.push('\n'),
            '\t' => cleaned.push('\t'),
            // U+00AD, the soft hyphen, marks where a word may break: invisible, and in the way of a search.
            '\0' | '\u{FEFF}' | '\u{AD}' => {}
            c if c.is_control() => cleaned.push(' '),
            c => cleaned.push(c),
        }
    }

    let mut out = String::with_capacity(cleaned.len());
    let mut out_chars = 0usize;
    let mut pending_blank = false;
    for line in cleaned.split('\n') {
        let line = line.trim_matches([' ', '\t']);
        if line.is_empty() {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            let separator = if pending_blank { "\n\n" } else { "\n" };
            out.push_str(separator);
            out_chars += separator.len();
        }
        pending_blank = false;

        let mut previous_space = false;
        for c in line.chars() {
            if out_chars >= max_chars {
                return finish(out);
            }
            if c == ' ' {
                if previous_space {
                    continue;
                }
                previous_space = true;
            } else {
                previous_space = false;
            }
            out.push(c);
            out_chars += 1;
        }
        if out_chars >= max_chars {
            return finish(out);
        }
    }
    finish(out)
}

fn finish(mut text: String) -> String {
    let trimmed_len = text.trim_end().len();
    text.truncate(trimmed_len);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_removed_or_replaced() {
        assert_eq!(normalize_extracted_text("a\0b\u{1}c\u{7f}d", 100), "ab c d");
        assert_eq!(normalize_extracted_text("\u{FEFF}name\tvalue", 100), "name\tvalue");
    }

    #[test]
    fn line_breaks_are_unified_and_blank_runs_collapsed() {
        let raw = "  Jane Doe  \r\n\r\n\r\n\n\x0cEngineer   at   Acme\rParis\n\n\n";
        assert_eq!(normalize_extracted_text(raw, 100), "Jane Doe\n\nEngineer at Acme\nParis");
    }

    #[test]
    fn combining_marks_are_composed() {
        assert_eq!(normalize_extracted_text("E\u{301}lodie", 100), "Élodie");
    }

    #[test]
    fn whitespace_only_text_becomes_empty() {
        assert_eq!(normalize_extracted_text(" \n\t\r\n \0 ", 100), "");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let text = normalize_extracted_text("ééééé", 3);
        assert_eq!(text, "ééé");
        assert_eq!(normalize_extracted_text("ab\n\ncd", 4), "ab");
    }

    #[test]
    fn normalisation_is_idempotent() {
        let raw = " a  b\r\n\r\n\r\nc\t\u{2}d \n\n";
        let once = normalize_extracted_text(raw, 1000);
        assert_eq!(normalize_extracted_text(&once, 1000), once);
    }
}
