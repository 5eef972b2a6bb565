//! Block, allow and watch lists and their entries: `/v1/lists` and below.

use serde::{Deserialize, Serialize};
use shopguard_core::whole_number;
use utoipa::{IntoParams, ToSchema};

pub use shopguard_core::lists::ListKind;

/// A list and its size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    pub description: String,
    /// Entries held in memory (expired ones not yet purged included).
    pub entries: usize,
}

/// `GET /v1/lists` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListIndex {
    /// The lists.
    pub lists: Vec<ListInfo>,
}

/// `POST /v1/lists` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListRequest {
    /// Name: 1 to 64 of a-z, 0-9, `_`, `-`.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    /// Kind.
    pub kind: ListKind,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// A list entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListEntry {
    /// Normalised value.
    pub value: String,
    /// Expiry (ms since epoch), if any.
    pub expires_at_ms: Option<i64>,
    /// Who added it.
    pub added_by: String,
    /// Why.
    pub reason: String,
    /// When.
    pub created_at_ms: i64,
}

/// Paging of `GET /v1/lists/{name}/entries`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListEntriesQuery {
    /// Entries after this value (the previous page's `next_after`).
    pub after: Option<String>,
    /// At most this many: 1 to 1,000, 100 when absent; a larger value is refused (`400`,
    /// naming the maximum), never clamped.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Show email and phone entries unmasked (needs the `pii:unmask` scope; audited).
    pub unmask: Option<bool>,
}

/// A page of list entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListEntryPage {
    /// The entries, by value.
    pub entries: Vec<ListEntry>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

/// `POST /v1/lists/{name}/entries` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddListEntryRequest {
    /// The value (IP or CIDR range written canonically, email, domain, ...); values follow
    /// the identifier rule (no control characters, bidirectional formatting characters or
    /// byte order mark, not blank).
    pub value: String,
    /// Lifetime in seconds; forever when absent.
    #[serde(default, deserialize_with = "whole_number::deserialize_option")]
    pub ttl_seconds: Option<u64>,
    /// Why it is listed.
    pub reason: String,
    /// Add an IP range wider than the node allows (`list_min_ipv4_prefix`, `/8` by default;
    /// `list_min_ipv6_prefix`, `/32`) all the same.
    #[serde(default)]
    pub force: bool,
}

/// `DELETE /v1/lists/{name}/entries` query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveListEntryQuery {
    /// The value to remove.
    pub value: String,
}

/// `POST /v1/lists/{name}/import` query; the body is text, one value per line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Lifetime of every entry, in seconds; forever when absent.
    pub ttl_seconds: Option<u64>,
    /// Why they are listed.
    pub reason: Option<String>,
    /// Add IP ranges wider than the node allows all the same (see `AddListEntryRequest`).
    pub force: Option<bool>,
}

/// A line that could not be imported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportProblem {
    /// 1-based line number.
    pub line: usize,
    /// Why.
    pub message: String,
}

/// Result of a bulk import.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Entries added or refreshed.
    pub added: usize,
    /// Lines refused.
    pub invalid_count: usize,
    /// The first 100 refused lines.
    pub invalid: Vec<ImportProblem>,
}
