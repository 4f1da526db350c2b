//! The rule for control characters in text a client sends (CONTRACT §11): a NUL or any other C0 control
//! character (U+0000–U+001F) is refused with 400 naming the parameter or field, never stored (PostgreSQL
//! refuses NUL in text, which would otherwise be a 500) and never logged. Tab, CR and LF are allowed only
//! where a field is free text written by a person (`cover_letter`).

/// Which C0 controls a piece of text may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlCharacters {
    /// None at all: names, filters, identifiers.
    Forbidden,
    /// Tab, CR and LF (a letter's layout); every other C0 control is still refused.
    TabAndLineBreaksAllowed,
}

/// Whether `text` holds a control character that `rule` refuses.
pub fn contains_forbidden_control_character(text: &str, rule: ControlCharacters) -> bool {
    text.chars().any(|c| {
        c <= '\u{1f}' && !(rule == ControlCharacters::TabAndLineBreaksAllowed && matches!(c, '\t' | '\r' | '\n'))
    })
}

/// The client-facing message for such text: `location is invalid`, `first_name is invalid`.
pub fn invalid_text_message(name: &str) -> String {
    format!("{name} is invalid")
}

#[cfg(test)]
mod tests {
    use super::ControlCharacters::{Forbidden, TabAndLineBreaksAllowed};
    use super::*;

    #[test]
    fn nul_and_every_c0_control_are_refused() {
        for code in 0u32..0x20 {
            let c = char::from_u32(code).unwrap();
            let text = format!("Par{c}is");
            assert!(contains_forbidden_control_character(&text, Forbidden), "U+{code:04X}");
        }
        assert!(contains_forbidden_control_character("\0", TabAndLineBreaksAllowed));
        assert!(contains_forbidden_control_character("a\u{1b}[31m", TabAndLineBreaksAllowed));
        assert!(contains_forbidden_control_character("a\u{0b}b", TabAndLineBreaksAllowed), "vertical tab");
    }

    #[test]
    fn tab_and_line_breaks_pass_only_where_allowed() {
        let letter = "Dear team,\r\n\r\n\tI would love to join.\n";
        assert!(!contains_forbidden_control_character(letter, TabAndLineBreaksAllowed));
        assert!(contains_forbidden_control_character(letter, Forbidden));
    }

    #[test]
    fn ordinary_text_passes() {
        for text in ["", "Saint-Étienne", "100% remote_", "名前", "emoji 🚀", "DEL\u{7f} is not C0", "\u{85}"] {
            assert!(!contains_forbidden_control_character(text, Forbidden), "{text:?}");
        }
        assert_eq!(invalid_text_message("first_name"), "first_name is invalid");
    }
}
