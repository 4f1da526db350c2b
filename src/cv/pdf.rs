//! PDF text with `pdf-extract`, for the extraction child only: the parser can panic, overflow
//! its stack or inflate a stream to gigabytes (DEPENDENCIES.md "PDF text"), so it never runs in
//! the server process.

/// Extracts the text layer of a PDF. The error is a one-line reason for the parent.
pub(crate) fn extract_pdf_text(bytes: &[u8]) -> Result<String, String> {
    let text = pdf_extract::extract_text_from_mem(bytes).map_err(|e| e.to_string())?;
    Ok(split_ligatures(&text))
}

/// Replaces typographic ligature characters by their letters, so that `ﬁnance` matches
/// `finance` for the scorer and for a recruiter's search.
pub(crate) fn split_ligatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{FB00}' => out.push_str("ff"),
            '\u{FB01}' => out.push_str("fi"),
            '\u{FB02}' => out.push_str("fl"),
            '\u{FB03}' => out.push_str("ffi"),
            '\u{FB04}' => out.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => out.push_str("st"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ligatures_become_letters() {
        assert_eq!(
            split_ligatures("\u{FB01}nance \u{FB02}ow o\u{FB00}er e\u{FB03}cient ba\u{FB04}e \u{FB05}\u{FB06}"),
            "finance flow offer efficient baffle stst"
        );
    }
}
