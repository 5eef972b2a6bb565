//! The one rule for identifiers (user, device, order and event ids, list entries that are
//! ids): not blank, and free of characters that change how text is shown rather than what
//! it says.
//!
//! Refused: text that is empty or only whitespace; control characters (C0, DEL, C1: NUL,
//! CR, LF, tab, escape, ...), which split log lines and terminal output; the bidirectional
//! embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and marks (U+200E,
//! U+200F, U+061C), which make `alice\u{202E}cipa` display as another id; the byte order mark
//! and zero-width no-break space (U+FEFF). An operator reading an id in the console or a log
//! must see what the system compares.

use std::fmt;

/// Why a text is not an acceptable identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifierProblem {
    /// Empty, or only whitespace.
    Blank,
    /// Holds a control character.
    Control(char),
    /// Holds a bidirectional formatting character.
    Bidi(char),
    /// Holds a byte order mark.
    ByteOrderMark,
}

impl fmt::Display for IdentifierProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentifierProblem::Blank => f.write_str("must not be empty or only whitespace"),
            IdentifierProblem::Control(c) => {
                write!(
                    f,
                    "must not hold control characters (U+{:04X})",
                    u32::from(*c)
                )
            }
            IdentifierProblem::Bidi(c) => write!(
                f,
                "must not hold bidirectional formatting characters (U+{:04X})",
                u32::from(*c)
            ),
            IdentifierProblem::ByteOrderMark => {
                f.write_str("must not hold a byte order mark (U+FEFF)")
            }
        }
    }
}

impl IdentifierProblem {
    /// The problem in a few words, without the character (for messages that quote the value).
    pub fn reason(self) -> &'static str {
        match self {
            IdentifierProblem::Blank => "blank",
            IdentifierProblem::Control(_) => "holds a control character",
            IdentifierProblem::Bidi(_) => "holds a bidirectional formatting character",
            IdentifierProblem::ByteOrderMark => "holds a byte order mark",
        }
    }
}

/// The rule as a regular expression (ECMA 262, as JSON Schema's `pattern` takes it), for
/// the OpenAPI document: at least one character that is not whitespace, and none of the
/// refused ones.
pub const PATTERN: &str = concat!(
    r"^[^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*",
    r"[^\s\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]",
    r"[^\x00-\x1F\x7F-\x9F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]*$"
);

/// Whether `c` is a bidirectional formatting character.
fn is_bidi_format(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Checks `text` against the identifier rule (see the module documentation).
pub fn check(text: &str) -> Result<(), IdentifierProblem> {
    // Plain ASCII without control characters is the usual case: one pass, no decoding.
    if text.bytes().all(|byte| (0x20..0x7F).contains(&byte)) {
        return if text.bytes().all(|byte| byte == b' ') {
            Err(IdentifierProblem::Blank)
        } else {
            Ok(())
        };
    }
    for c in text.chars() {
        if c.is_control() {
            return Err(IdentifierProblem::Control(c));
        }
        if is_bidi_format(c) {
            return Err(IdentifierProblem::Bidi(c));
        }
        if c == '\u{FEFF}' {
            return Err(IdentifierProblem::ByteOrderMark);
        }
    }
    if text.chars().all(char::is_whitespace) {
        return Err(IdentifierProblem::Blank);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_pass() {
        for id in ["u1", "alice@example.com", "订单-42", "a b", " x ", "ü"] {
            assert_eq!(check(id), Ok(()), "{id:?}");
        }
    }

    #[test]
    fn blank_control_bidi_and_bom_are_refused() {
        assert_eq!(check(""), Err(IdentifierProblem::Blank));
        assert_eq!(check("   "), Err(IdentifierProblem::Blank));
        assert_eq!(check("\u{3000}\u{00A0}"), Err(IdentifierProblem::Blank));
        assert_eq!(check("a\0b"), Err(IdentifierProblem::Control('\0')));
        assert_eq!(check("a\r\nb"), Err(IdentifierProblem::Control('\r')));
        assert_eq!(check("\t"), Err(IdentifierProblem::Control('\t')));
        assert_eq!(check("a\u{85}"), Err(IdentifierProblem::Control('\u{85}')));
        assert_eq!(
            check("alice\u{202E}cipa"),
            Err(IdentifierProblem::Bidi('\u{202E}'))
        );
        assert_eq!(check("\u{2067}x"), Err(IdentifierProblem::Bidi('\u{2067}')));
        assert_eq!(check("\u{FEFF}u1"), Err(IdentifierProblem::ByteOrderMark));
        assert!(check("a\u{202E}b")
            .unwrap_err()
            .to_string()
            .contains("U+202E"));
    }
}
