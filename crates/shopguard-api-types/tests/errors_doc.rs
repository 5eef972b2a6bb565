//! `docs/errors.md`, which every error's `link` points to, has one section per code of the
//! table, headed by the code and opened by the code's status and type, and nothing else.

use shopguard_api_types::ErrorCode;

const ERRORS_MD: &str = include_str!("../../../docs/errors.md");

/// The `## ` sections of the reference: heading, then the first non-empty line after it.
fn sections() -> Vec<(&'static str, &'static str)> {
    let lines: Vec<&str> = ERRORS_MD.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let heading = line.strip_prefix("## ")?;
            let first = lines[index + 1..]
                .iter()
                .find(|candidate| !candidate.trim().is_empty())
                .copied()
                .unwrap_or("");
            Some((heading.trim(), first.trim()))
        })
        .collect()
}

#[test]
fn every_code_has_its_section_with_its_status_and_type() {
    let sections = sections();
    for &code in ErrorCode::ALL {
        let row = code.row();
        let found: Vec<_> = sections
            .iter()
            .filter(|(heading, _)| *heading == row.code)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "docs/errors.md: one section `## {}`",
            row.code
        );
        let expected = format!("`{}` · `{}`", row.status, row.error_type.as_str());
        assert_eq!(
            found[0].1, expected,
            "docs/errors.md: first line of `## {}`",
            row.code
        );
    }
}

#[test]
fn every_section_is_a_code_of_the_table() {
    for (heading, _) in sections() {
        assert!(
            ErrorCode::from_code(heading).is_some(),
            "docs/errors.md: `## {heading}` is not an error code"
        );
    }
}

#[test]
fn every_section_is_in_english_and_simplified_chinese() {
    let parts: Vec<&str> = ERRORS_MD.split("\n## ").skip(1).collect();
    assert_eq!(parts.len(), ErrorCode::ALL.len());
    for part in parts {
        let code = part.lines().next().unwrap_or("").trim();
        for marker in [
            "**What it means.**",
            "**What to do.**",
            "**含义。**",
            "**处理方法。**",
        ] {
            assert!(
                part.contains(marker),
                "docs/errors.md: `## {code}` lacks {marker}"
            );
        }
    }
}
