//! Incident management as DB33/T 978-2015 defines it (issue 19): the pure rules.
//!
//! - [`category`]: the seven categories of §6.2 and the negative-consequence tags of §8.3.3.
//! - [`grading`]: the level from system importance × system loss (§6.4 a) and from the share
//!   of platform users affected (§6.3.4, §6.4 b), with the clause that decided it.
//! - [`lifecycle`]: the statuses an incident passes through and the moves allowed between
//!   them (§10.4–10.6), as one pure function.
//! - [`record`]: the incident itself (the security-event database's row, §8.5, §10.3) and
//!   the limits on every field.
//! - [`history`]: field-by-field history entries and the diff between any two versions.
//!
//! Every enum that is stored has an explicit code table ([`crate::stored_codes!`]); its wire
//! name is snake_case, and the console shows its Chinese or English label.

pub mod category;
pub mod grading;
pub mod history;
pub mod lifecycle;
pub mod record;

pub use category::{Category, ConsequenceTag};
pub use grading::{
    grade, BandBetween, Grade, GradeReason, GradingConfig, GradingError, GradingInputs, Level,
    SocialImpact, SystemImportance, SystemLoss,
};
pub use history::{
    diff_versions, field_changes, FieldChange, FieldDiff, HistoryEntry, ALERTS_LINKED_FIELD,
};
pub use lifecycle::{check_transition, LifecycleError, LifecycleFacts, Status, Verdict};
pub use record::{FieldError, Incident, Observable, ObservableKind};

/// Writes a field-less enum whose variants each carry a stored code, a snake_case wire name,
/// a Chinese and an English label: the enum with its derives, its [`crate::stored_codes!`]
/// table, `ALL`, `as_str`, `label_zh`, `label_en`, `Display` and `FromStr`.
macro_rules! labelled_enum {
    (
        $(#[$meta:meta])*
        $enum:ident, $what:literal, {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $code:literal, $wire:literal, $zh:literal, $en:literal;
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $enum {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        $crate::stored_codes!($enum, $what, { $($variant = $code),+ });

        impl $enum {
            /// Every variant, in code order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),+];

            /// The snake_case wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $wire,)+
                }
            }

            /// The Chinese label (the standard's wording).
            pub fn label_zh(self) -> &'static str {
                match self {
                    $($enum::$variant => $zh,)+
                }
            }

            /// The English label.
            pub fn label_en(self) -> &'static str {
                match self {
                    $($enum::$variant => $en,)+
                }
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $enum {
            type Err = String;

            fn from_str(text: &str) -> Result<$enum, String> {
                $enum::ALL
                    .iter()
                    .copied()
                    .find(|variant| variant.as_str() == text)
                    .ok_or_else(|| {
                        let names: Vec<&str> = $enum::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} '{text}': use one of {}", $what, names.join(", "))
                    })
            }
        }
    };
}
pub(crate) use labelled_enum;
