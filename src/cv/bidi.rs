//! Right-to-left text taken from page positions: a PDF line is laid out left to right on the page
//! (visual order), but Arabic and Hebrew are typed, searched and scored in logical order. This
//! turns one visual line back into logical order, the inverse of the display step of the Unicode
//! bidirectional algorithm for the common cases (one base direction per line, Latin words and
//! numbers embedded in RTL text and the other way round), without inserting any bidi control
//! character.

/// The direction class of a piece of text, from its first strong character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    LeftToRight,
    RightToLeft,
    Neutral,
}

/// Hebrew, Arabic, Syriac, Thaana, N'Ko, Samaritan, Mandaic and their presentation forms;
/// Arabic-Indic digits are numbers (kept left to right) and excluded.
pub(crate) fn is_rtl_char(c: char) -> bool {
    matches!(c,
        '\u{0590}'..='\u{05FF}'
        | '\u{0600}'..='\u{065F}'
        | '\u{066A}'..='\u{06EF}'
        | '\u{06FA}'..='\u{08FF}'
        | '\u{FB1D}'..='\u{FDFF}'
        | '\u{FE70}'..='\u{FEFE}'
        | '\u{10800}'..='\u{10FFF}'
        | '\u{1E800}'..='\u{1EFFF}')
}

fn char_direction(c: char) -> Direction {
    if is_rtl_char(c) {
        Direction::RightToLeft
    } else if c.is_alphanumeric() {
        Direction::LeftToRight
    } else {
        Direction::Neutral
    }
}

pub(crate) fn direction_of(unit: &str) -> Direction {
    unit.chars().map(char_direction).find(|d| *d != Direction::Neutral).unwrap_or(Direction::Neutral)
}

/// Reorders one line given as units (glyph texts and inserted spaces) in visual order, left to
/// right, into logical order. A unit keeps its own characters in order: a ligature or a letter
/// with its combining marks is already logical. Brackets inside right-to-left runs are mirrored.
pub(crate) fn visual_to_logical(units: Vec<String>) -> Vec<String> {
    let directions: Vec<Direction> = units.iter().map(|unit| direction_of(unit)).collect();
    let rtl = directions.iter().filter(|d| **d == Direction::RightToLeft).count();
    if rtl == 0 {
        return units;
    }
    let ltr = directions.iter().filter(|d| **d == Direction::LeftToRight).count();
    let base = if rtl >= ltr { Direction::RightToLeft } else { Direction::LeftToRight };

    // A neutral between two strong units of the same direction takes it; any other neutral takes
    // the line's base direction (UAX #9 rules N1 and N2).
    let mut resolved = directions.clone();
    let mut i = 0;
    while i < resolved.len() {
        if resolved[i] != Direction::Neutral {
            i += 1;
            continue;
        }
        let start = i;
        while i < resolved.len() && resolved[i] == Direction::Neutral {
            i += 1;
        }
        let before = start.checked_sub(1).map(|j| resolved[j]);
        let after = resolved.get(i).copied();
        let direction = match (before, after) {
            (Some(b), Some(a)) if a == b => a,
            _ => base,
        };
        resolved[start..i].fill(direction);
    }

    let mut units: Vec<(String, Direction)> = units.into_iter().zip(resolved).collect();
    if base == Direction::RightToLeft {
        units.reverse();
    }
    // Reverse every run that goes against the order the sequence is now in.
    let against = if base == Direction::RightToLeft { Direction::LeftToRight } else { Direction::RightToLeft };
    let mut i = 0;
    while i < units.len() {
        if units[i].1 != against {
            i += 1;
            continue;
        }
        let start = i;
        while i < units.len() && units[i].1 == against {
            i += 1;
        }
        units[start..i].reverse();
    }
    units
        .into_iter()
        .map(|(unit, direction)| if direction == Direction::RightToLeft { mirror(unit) } else { unit })
        .collect()
}

fn mirror(unit: String) -> String {
    if !unit.chars().any(|c| "()[]{}<>«»".contains(c)) {
        return unit;
    }
    unit.chars()
        .map(|c| match c {
            '(' => ')',
            ')' => '(',
            '[' => ']',
            ']' => '[',
            '{' => '}',
            '}' => '{',
            '<' => '>',
            '>' => '<',
            '«' => '»',
            '»' => '«',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(visual: &str) -> Vec<String> {
        visual.chars().map(String::from).collect()
    }

    fn logical(visual: &str) -> String {
        visual_to_logical(units(visual)).concat()
    }

    #[test]
    fn latin_only_lines_are_untouched() {
        assert_eq!(logical("Jane Doe (Paris)"), "Jane Doe (Paris)");
    }

    #[test]
    fn a_hebrew_line_is_reversed_to_its_typed_order() {
        // "שלום עולם" ("hello world") as it is laid out on the page: the last letter leftmost.
        let visual: String = "שלום עולם".chars().rev().collect();
        assert_eq!(logical(&visual), "שלום עולם");
    }

    #[test]
    fn an_arabic_word_in_a_latin_line_keeps_the_latin_order() {
        let arabic = "مرحبا";
        let visual = format!("Hello {} world", arabic.chars().rev().collect::<String>());
        assert_eq!(logical(&visual), format!("Hello {arabic} world"));
    }

    #[test]
    fn latin_words_and_numbers_inside_rtl_text_stay_left_to_right() {
        // Logical "מהנדס Rust 2024 בתל אביב": the page shows the Hebrew reversed, Latin and
        // digits left to right, and the runs from right to left.
        let visual = "ביבא לתב Rust 2024 סדנהמ";
        assert_eq!(logical(visual), "מהנדס Rust 2024 בתל אביב");
    }

    #[test]
    fn multi_character_units_keep_their_inner_order() {
        // A lam-alef ligature decoded as two letters stays "لا".
        let visual = vec!["ب".to_owned(), "لا".to_owned(), "ه".to_owned()];
        assert_eq!(visual_to_logical(visual).concat(), "هلاب");
    }

    #[test]
    fn brackets_in_rtl_runs_are_mirrored() {
        // The glyphs drawn are mirrored too: the page shows "(", then the reversed word, then ")".
        let visual = format!("({})", "שלום".chars().rev().collect::<String>());
        assert_eq!(logical(&visual), "(שלום)");
    }
}
