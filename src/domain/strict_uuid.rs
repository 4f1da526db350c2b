//! Ids in paths are checked strictly (CONTRACT §5, §7): exactly `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex,
//! either case. The `uuid` crate alone would also accept braces, URNs and the 32-digit simple form.

use uuid::Uuid;

pub fn parse_strict_uuid(raw: &str) -> Option<Uuid> {
    let bytes = raw.as_bytes();
    let well_formed = bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    if well_formed { Uuid::parse_str(raw).ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::parse_strict_uuid;

    #[test]
    fn only_the_hyphenated_form_is_accepted() {
        assert!(parse_strict_uuid("550e8400-e29b-41d4-a716-446655440000").is_some());
        assert!(parse_strict_uuid("550E8400-E29B-41D4-A716-446655440000").is_some());
        for bad in [
            "",
            "550e8400e29b41d4a716446655440000",
            "{550e8400-e29b-41d4-a716-446655440000}",
            "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
            "550e8400-e29b-41d4-a716-44665544000g",
            "550e8400-e29b-41d4-a716_446655440000",
            "550e8400-e29b-41d4-a716-4466554400000",
            "1 OR 1=1",
        ] {
            assert!(parse_strict_uuid(bad).is_none(), "{bad}");
        }
    }
}
