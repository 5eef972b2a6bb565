//! Tasks: running and finished long jobs (imports, re-encryption) with their progress.

use minijinja::context;
use shopguard_storage::Scope;

use crate::console::{Reply, Ui};

/// `GET /console/tasks` (the page refreshes its table every two seconds while a task runs).
pub(crate) async fn index(ui: Ui) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let principal = ui.principal.clone();
    let tasks = ui.run(move |app| app.tasks.recent(&principal, 100)).await?;
    let running = tasks.iter().any(|task| task.finished_at_ms.is_none());
    let tasks: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            context! {
                id => task.id,
                kind => task.kind.as_str(),
                status => task.status.as_str(),
                done => task.done,
                total => task.total,
                percent => if task.total > 0 { task.done * 100 / task.total } else { 0 },
                created_at_ms => task.created_at_ms,
                finished_at_ms => task.finished_at_ms,
                requested_by => task.requested_by,
                error => task.error,
            }
        })
        .collect();
    ui.page(
        "tasks.html",
        context! { tasks => tasks, running => running },
    )
}
