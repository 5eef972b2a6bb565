//! The incident's history: one entry per changed field, so any two versions can be diffed
//! (§10.6: every change to the security-event database is recorded).
//!
//! A change from version `v - 1` to `v` is stored as the entries of version `v`, one per
//! field whose value changed, each with the old and the new value as JSON. The creation is
//! version 1, with the old value of each recorded field `null`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::record::Incident;

/// Fields that are bookkeeping, not content, or recorded their own way: never compared by
/// [`field_changes`]. Linked alerts only grow, and one attack may link thousands, so a link
/// is recorded as the seqs it adds under [`ALERTS_LINKED_FIELD`], not as the whole list.
const NOT_RECORDED: [&str; 5] = ["id", "version", "created_at_ms", "updated_at_ms", "alerts"];

/// The history field of a link: `old` is `null`, `new` the seqs the version linked. The diff
/// of a range gives every seq linked in it.
pub const ALERTS_LINKED_FIELD: &str = "alerts_linked";

/// One field's change in one version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    /// The version the change made.
    pub version: i64,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// Who (an actor).
    pub actor: String,
    /// The action that changed it (`incident.grade`).
    pub action: String,
    /// The field.
    pub field: String,
    /// Its value before (JSON; `null` when it had none).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub old: Value,
    /// Its value after (JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub new: Value,
    /// Why, when a reason was given.
    pub reason: Option<String>,
}

/// One field that differs between two states.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// Its value before.
    pub old: Value,
    /// Its value after.
    pub new: Value,
}

/// A field that differs between two versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDiff {
    /// The field.
    pub field: String,
    /// Its value at the earlier version.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub from: Value,
    /// Its value at the later version.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub to: Value,
}

fn as_object(incident: &Incident) -> serde_json::Map<String, Value> {
    match serde_json::to_value(incident) {
        Ok(Value::Object(map)) => map,
        // A struct of plain fields always serialises to an object.
        _ => serde_json::Map::new(),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// The fields that differ between `before` and `after`, in field order. With no `before`
/// (a creation), every field that is not empty, each from `null`.
pub fn field_changes(before: Option<&Incident>, after: &Incident) -> Vec<FieldChange> {
    let after = as_object(after);
    let before = before.map(as_object);
    let mut changes = Vec::new();
    for (field, new) in after {
        if NOT_RECORDED.contains(&field.as_str()) {
            continue;
        }
        let old = match &before {
            Some(before) => before.get(&field).cloned().unwrap_or(Value::Null),
            None if is_empty(&new) => continue,
            None => Value::Null,
        };
        if old != new {
            changes.push(FieldChange { field, old, new });
        }
    }
    changes
}

/// The fields that changed after version `from` up to and including version `to`, each with
/// its value at `from` and at `to`, in the order they first changed. `history` is an
/// incident's whole history in the order it was written. For [`ALERTS_LINKED_FIELD`], `to` is
/// every seq linked in the range.
pub fn diff_versions(history: &[HistoryEntry], from: i64, to: i64) -> Vec<FieldDiff> {
    let mut diffs: Vec<FieldDiff> = Vec::new();
    let mut in_range: Vec<&HistoryEntry> = history
        .iter()
        .filter(|entry| entry.version > from && entry.version <= to)
        .collect();
    // Stable: entries of one version keep their written order.
    in_range.sort_by_key(|entry| entry.version);
    for entry in in_range {
        match diffs.iter_mut().find(|diff| diff.field == entry.field) {
            Some(diff) if entry.field == ALERTS_LINKED_FIELD => {
                if let (Value::Array(all), Value::Array(added)) = (&mut diff.to, &entry.new) {
                    all.extend(added.iter().cloned());
                }
            }
            Some(diff) => diff.to = entry.new.clone(),
            None => diffs.push(FieldDiff {
                field: entry.field.clone(),
                from: entry.old.clone(),
                to: entry.new.clone(),
            }),
        }
    }
    diffs.retain(|diff| diff.from != diff.to);
    diffs
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::incident::grading::Level;
    use crate::incident::lifecycle::{Status, Verdict};
    use crate::incident::record::tests::reported;

    fn entries(version: i64, changes: Vec<FieldChange>) -> Vec<HistoryEntry> {
        changes
            .into_iter()
            .map(|change| HistoryEntry {
                version,
                at_ms: version * 10,
                actor: "operator:bob".into(),
                action: "incident.test".into(),
                field: change.field,
                old: change.old,
                new: change.new,
                reason: None,
            })
            .collect()
    }

    #[test]
    fn a_creation_records_every_field_that_has_a_value() {
        let changes = field_changes(None, &reported());
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"title") && fields.contains(&"status"));
        assert!(fields.contains(&"unsure_of_level"));
        assert!(!fields.contains(&"assignee") && !fields.contains(&"description"));
        assert!(!fields.contains(&"version") && !fields.contains(&"updated_at_ms"));
        assert!(changes.iter().all(|c| c.old.is_null()));
    }

    #[test]
    fn only_changed_fields_are_recorded() {
        let before = reported();
        let mut after = before.clone();
        after.version = 2;
        after.updated_at_ms = 9_999;
        assert!(field_changes(Some(&before), &after).is_empty());
        after.status = Status::Triaged;
        after.verdict = Some(Verdict::TruePositive);
        assert_eq!(
            field_changes(Some(&before), &after),
            [
                FieldChange {
                    field: "status".into(),
                    old: json!("reported"),
                    new: json!("triaged")
                },
                FieldChange {
                    field: "verdict".into(),
                    old: json!(null),
                    new: json!("true_positive")
                },
            ]
        );
    }

    #[test]
    fn any_two_versions_diff() {
        let v1 = reported();
        let mut v2 = v1.clone();
        v2.status = Status::Triaged;
        v2.verdict = Some(Verdict::TruePositive);
        let mut v3 = v2.clone();
        v3.computed_level = Some(Level::III);
        v3.title = "phishing kit".into();
        let mut v4 = v3.clone();
        v4.computed_level = Some(Level::II);
        let mut v5 = v4.clone();
        v5.title = v1.title.clone();
        let mut history = entries(1, field_changes(None, &v1));
        history.extend(entries(2, field_changes(Some(&v1), &v2)));
        history.extend(entries(3, field_changes(Some(&v2), &v3)));
        history.extend(entries(4, field_changes(Some(&v3), &v4)));
        history.extend(entries(5, field_changes(Some(&v4), &v5)));

        let diff = diff_versions(&history, 2, 4);
        assert_eq!(
            diff,
            [
                FieldDiff {
                    field: "computed_level".into(),
                    from: json!(null),
                    to: json!("ii")
                },
                FieldDiff {
                    field: "title".into(),
                    from: json!("phishing page imitating our login"),
                    to: json!("phishing kit")
                },
            ]
        );
        // The title went and came back: between 2 and 5 it did not change.
        let fields: Vec<String> = diff_versions(&history, 2, 5)
            .into_iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(fields, ["computed_level"]);
        assert!(diff_versions(&history, 3, 3).is_empty());
        // From 0: everything the incident is at `to`, against nothing.
        let from_zero = diff_versions(&history, 0, 2);
        assert!(from_zero
            .iter()
            .any(|d| d.field == "status" && d.to == json!("triaged")));
        // Versions written out of order give the same values.
        let mut shuffled = history.clone();
        shuffled.reverse();
        let mut again = diff_versions(&shuffled, 2, 4);
        again.sort_by(|a, b| a.field.cmp(&b.field));
        assert_eq!(again, diff);
    }

    #[test]
    fn linked_alerts_add_up_across_versions() {
        let link = |version: i64, seqs: serde_json::Value| HistoryEntry {
            version,
            at_ms: 0,
            actor: "system".into(),
            action: "incident.link_alerts".into(),
            field: ALERTS_LINKED_FIELD.into(),
            old: json!(null),
            new: seqs,
            reason: None,
        };
        let history = [
            link(1, json!([1, 2])),
            link(2, json!([5])),
            link(3, json!([7, 9])),
        ];
        assert_eq!(
            diff_versions(&history, 1, 3),
            [FieldDiff {
                field: ALERTS_LINKED_FIELD.into(),
                from: json!(null),
                to: json!([5, 7, 9])
            }]
        );
    }
}
