//! The export parser on hostile input: arbitrary text and mutated valid lines never panic it,
//! and whatever it accepts writes back to a line that parses to the same record.

use loopwise_store::export::{ExportLine, parse_header, parse_line};
use proptest::prelude::*;

/// Valid lines of every shape that has nested objects, options and arrays.
const VALID: &[&str] = &[
    r#"{"kind":"change","repository":"/srv/app","source":"git","change":{"sha":"a1","parents":["b2","c3"],"author_time":1,"committer_time":2,"author_name":"Ada","author_email":"a@x","subject":"s","reverts":null}}"#,
    r#"{"kind":"deployment","deployment":{"source":"api","id":"d1","service":"api","environment":"production","sha":"a1","started_at":null,"finished_at":100,"status":"success","kind":"normal"}}"#,
    r#"{"kind":"ci_run","ci_run":{"source":"github","id":"r","attempt":2,"repository":"o/r","pipeline":"CI","sha":"a1","branch":null,"status":"failure","started_at":1,"finished_at":2,"url":null}}"#,
    r#"{"kind":"token","name":"ci","scope":"ingest","hash":"ab","created_at":5,"revoked_at":7}"#,
    r#"{"kind":"path_touch","repository":"r","paths_key":"api","sha":"a1","touched":true}"#,
    r#"{"kind":"end","records":3}"#,
];

const HEADER: &str =
    r#"{"schema":"loopwise.export.v1","schema_version":4,"exported_at":"2026-01-01T00:00:00Z"}"#;

/// A valid line with a few characters replaced, removed or inserted.
fn mutated() -> impl Strategy<Value = String> {
    (
        0..VALID.len(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..5),
    )
        .prop_map(|(which, edits)| {
            let mut chars: Vec<char> = VALID[which].chars().collect();
            for (at, edit, c) in edits {
                if chars.is_empty() {
                    break;
                }
                let at = at.index(chars.len());
                match edit {
                    0 => chars[at] = c,
                    1 => {
                        chars.remove(at);
                    }
                    _ => chars.insert(at, c),
                }
            }
            chars.into_iter().collect()
        })
}

fn accepted_lines_round_trip(line: &str) {
    if let Ok(ExportLine::Record(record)) = parse_line(line) {
        assert_eq!(
            parse_line(&record.to_line()),
            Ok(ExportLine::Record(record))
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(line in ".{0,300}") {
        accepted_lines_round_trip(&line);
        let _ = parse_header(&line, 4);
    }

    #[test]
    fn mutated_lines_never_panic_and_what_is_accepted_round_trips(line in mutated()) {
        accepted_lines_round_trip(&line);
        let _ = parse_header(&line, 4);
    }

    #[test]
    fn a_mutated_header_is_accepted_only_when_still_well_formed(
        at in any::<prop::sample::Index>(), c in any::<char>()
    ) {
        let mut chars: Vec<char> = HEADER.chars().collect();
        let at = at.index(chars.len());
        chars[at] = c;
        let line: String = chars.into_iter().collect();
        if let Ok(header) = parse_header(&line, 4) {
            prop_assert_eq!(header.schema, "loopwise.export.v1");
            prop_assert!((1..=4).contains(&header.schema_version));
        }
    }
}

#[test]
fn every_valid_line_parses() {
    for line in VALID {
        assert!(parse_line(line).is_ok(), "{line}");
    }
    assert!(parse_header(HEADER, 4).is_ok());
}
