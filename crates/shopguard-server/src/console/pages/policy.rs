//! The policy: the live version and every earlier one, a version's source with its
//! differences from the live one, the editor (compile and fixtures on demand, the error at
//! its line and column), replaying logged traffic through the edit, submitting, approving
//! (never one's own punitive change) and rolling back — all through the policy service,
//! under its one serialiser.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use minijinja::context;
use serde::{Deserialize, Serialize};
use shopguard_storage::Scope;

use crate::console::auth::CsrfForm;
use crate::console::{Reply, Ui};

/// `GET /console/policy`.
pub(crate) async fn index(ui: Ui) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let (versions, live) = ui
        .run(|app| Ok((app.policies.versions()?, app.policies.live_version())))
        .await?;
    let versions: Vec<_> = versions
        .into_iter()
        .rev()
        .map(|version| {
            context! {
                version => version.version,
                live => version.version == live,
                author => version.author,
                comment => version.comment,
                created_at_ms => version.created_at_ms,
                pending_approval => version.pending_approval,
                approved_by => version.approved_by,
                sha256 => version.sha256.chars().take(12).collect::<String>(),
            }
        })
        .collect();
    ui.page(
        "policy.html",
        context! { versions => versions, live => live },
    )
}

/// One line of a difference between two sources.
#[derive(Debug, Serialize)]
struct DiffLine {
    /// `+`, `-` or ` `.
    sign: &'static str,
    text: String,
}

/// The lines of `new` against `old`, with three lines of context around each change.
fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = similar::TextDiff::from_lines(old, new);
    let mut lines = Vec::new();
    for group in diff.grouped_ops(3) {
        for op in group {
            for change in diff.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => " ",
                };
                lines.push(DiffLine {
                    sign,
                    text: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
        lines.push(DiffLine {
            sign: "…",
            text: String::new(),
        });
    }
    lines.pop();
    lines
}

/// `GET /console/policy/versions/{version}`: its source, and its differences from the live
/// version (what an approver reads before approving).
pub(crate) async fn version(ui: Ui, Path(version): Path<u64>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let (stored, live) = ui
        .run(move |app| Ok((app.policies.version(version)?, app.policies.live()?)))
        .await?;
    let changes = diff(&live.source, &stored.source);
    let own = stored.author == ui.principal.actor.to_string();
    ui.page(
        "policy_version.html",
        context! {
            version => stored.version,
            live_version => live.version,
            is_live => stored.version == live.version,
            author => stored.author,
            own => own,
            comment => stored.comment,
            created_at_ms => stored.created_at_ms,
            pending_approval => stored.pending_approval,
            approved_by => stored.approved_by,
            source => stored.source,
            changes => changes,
        },
    )
}

/// `GET /console/policy/edit`: the editor, holding the live source.
pub(crate) async fn editor(ui: Ui) -> Reply {
    ui.require(Scope::PolicyWrite)?;
    let live = ui.run(|app| app.policies.live()).await?;
    ui.page(
        "policy_edit.html",
        context! { source => live.source, live_version => live.version },
    )
}

/// The editor's form.
#[derive(Debug, Deserialize)]
pub(crate) struct EditForm {
    csrf: String,
    source: String,
    #[serde(default)]
    comment: String,
}

/// The number after `label` in `text` (`line 12` → 12).
fn number_after(text: &str, label: &str) -> Option<u32> {
    let start = text.find(label)? + label.len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Where in `source` the error of `message` is, as line and column (from 1). A TOML error
/// names its place in the file; a rule's or a feature's expression error names its place in
/// the expression, which is found in the file after the rule's `id` (the feature's `name`)
/// and its `when` (`filter`) key.
fn position(source: &str, message: &str) -> Option<(u32, u32)> {
    let line = number_after(message, "line ")?;
    let column = number_after(message, "column ").unwrap_or(1);
    let (owner, key) = if let Some(rest) = message.strip_prefix("rule '") {
        (rest.split('\'').next()?, "when")
    } else if let Some(rest) = message.strip_prefix("feature '") {
        (rest.split('\'').next()?, "filter")
    } else {
        return Some((line, column));
    };
    let lines: Vec<&str> = source.lines().collect();
    let named = |text: &str, name: &str| {
        let text = text.trim_start();
        ["id", "name"].iter().any(|label| {
            text.strip_prefix(label)
                .map(str::trim_start)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|rest| rest.trim().trim_matches(['"', '\'']))
                == Some(name)
        })
    };
    let owner_line = lines.iter().position(|text| named(text, owner))?;
    let (key_line, text) = lines
        .iter()
        .enumerate()
        .skip(owner_line)
        .find(|(_, text)| text.trim_start().starts_with(key))?;
    let opening = text.find(['"', '\''])?;
    let triple = text[opening..].starts_with("\"\"\"") || text[opening..].starts_with("\'\'\'");
    if triple {
        // A multi-line string starts on the next line when the opening quotes end this one.
        let rest = &text[opening + 3..];
        return Some(if rest.trim().is_empty() {
            (key_line as u32 + 1 + line, column)
        } else if line == 1 {
            (key_line as u32 + 1, (opening + 3) as u32 + column)
        } else {
            (key_line as u32 + line, column)
        });
    }
    Some((key_line as u32 + line, (opening + 1) as u32 + column))
}

/// `POST /console/policy/check` (htmx): compiles the edited source and runs its fixtures;
/// answers a fragment with the result or the first error at its position.
pub(crate) async fn check(ui: Ui, Form(form): Form<EditForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::PolicyWrite)?;
    let source = form.source;
    let checked = source.clone();
    let result = ui.state.run(move |app| app.policies.check(&checked)).await;
    match result {
        Ok(check) => {
            let fixtures: Vec<_> = check
                .fixtures
                .iter()
                .map(|report| {
                    context! {
                        name => report.name,
                        passed => report.passed(),
                        events => report.events,
                        failures => report.failures,
                    }
                })
                .collect();
            ui.page(
                "policy_check.html",
                context! {
                    ok => true,
                    rules => check.rules,
                    features => check.features,
                    fixtures => fixtures,
                    error => Option::<String>::None,
                    line => Option::<u32>::None,
                    column => Option::<u32>::None,
                },
            )
        }
        Err(error) => {
            let message = error.0.message.clone();
            let at = position(&source, &message);
            ui.page(
                "policy_check.html",
                context! {
                    ok => false,
                    rules => 0,
                    features => 0,
                    fixtures => Vec::<()>::new(),
                    error => message,
                    line => at.map(|(line, _)| line),
                    column => at.map(|(_, column)| column),
                },
            )
        }
    }
}

/// The editor's replay form: the edited source and how many hours back to replay.
#[derive(Debug, Deserialize)]
pub(crate) struct ReplayForm {
    csrf: String,
    source: String,
    #[serde(default)]
    hours: Option<u32>,
}

/// `POST /console/policy/replay` (htmx): replays the last hours of logged traffic through
/// the live and the edited policy; answers a fragment with the decisions that would change,
/// rule by rule (decision 0045).
pub(crate) async fn replay(ui: Ui, Form(form): Form<ReplayForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::PolicyWrite)?;
    let principal = ui.principal.clone();
    let report = ui
        .run(move |app| {
            let request = shopguard_app::ReplayRequest::new(
                form.source,
                None,
                None,
                form.hours,
                None,
                shopguard_app::clock::now_ms(),
            )?;
            app.policies.replay(&request, &principal)
        })
        .await?;
    ui.page(
        "policy_replay.html",
        minijinja::Value::from_serialize(&report),
    )
}

/// `POST /console/policy/submit`: stores the edited source as a new version; live at once,
/// or waiting for another operator's approval when it adds or changes punitive rules.
pub(crate) async fn submit(ui: Ui, Form(form): Form<EditForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::PolicyWrite)?;
    let actor = ui.principal.actor.clone();
    let proposal = ui
        .run(move |app| {
            app.policies
                .propose(&form.source, &actor, form.comment.trim())
        })
        .await?;
    Ok(Redirect::to(&format!("/console/policy/versions/{}", proposal.version)).into_response())
}

/// `POST /console/policy/versions/{version}/approve`.
pub(crate) async fn approve(ui: Ui, Path(version): Path<u64>, Form(form): Form<CsrfForm>) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::PolicyApprove)?;
    let actor = ui.principal.actor.clone();
    ui.run(move |app| app.policies.approve(version, &actor))
        .await?;
    Ok(Redirect::to(&format!("/console/policy/versions/{version}")).into_response())
}

/// `POST /console/policy/versions/{version}/rollback`: makes an earlier version live again.
pub(crate) async fn rollback(
    ui: Ui,
    Path(version): Path<u64>,
    Form(form): Form<CsrfForm>,
) -> Reply {
    ui.verify_csrf(&form.csrf)?;
    ui.require(Scope::PolicyWrite)?;
    let actor = ui.principal.actor.clone();
    ui.run(move |app| app.policies.rollback(version, &actor))
        .await?;
    Ok(Redirect::to("/console/policy").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_placed_in_the_file() {
        let source =
            "[[rules]]\nid = \"a\"\nwhen = \"true\"\n\n[[rules]]\nid = \"b\"\nwhen = \"x > > 1\"\n";
        assert_eq!(
            position(
                source,
                "policy document: TOML parse error at line 3, column 8\n |"
            ),
            Some((3, 8))
        );
        // Column 5 of the expression is the second '>': line 7, after `when = "`.
        assert_eq!(
            position(source, "rule 'b': line 1, column 5: Syntax error"),
            Some((7, 13))
        );
        assert_eq!(source.lines().nth(6).unwrap().chars().nth(12), Some('>'));
        let multi = "[[rules]]\nid = \"c\"\nwhen = \"\"\"\n  a &&\n  b > > 1\"\"\"\n";
        assert_eq!(
            position(multi, "rule 'c': line 2, column 7: x"),
            Some((5, 7))
        );
        assert_eq!(position(source, "2 fixture test(s) failed"), None);
    }

    #[test]
    fn a_diff_marks_added_and_removed_lines_with_context() {
        let lines = diff("a\nb\nc\n", "a\nB\nc\n");
        let signs: Vec<&str> = lines.iter().map(|line| line.sign).collect();
        assert_eq!(signs, vec![" ", "-", "+", " "]);
        assert_eq!(lines[2].text, "B");
    }
}
