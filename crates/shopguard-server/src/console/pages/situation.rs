//! The situation page: live figures (server-sent events every second), over a chosen range.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use minijinja::context;
use serde::Deserialize;
use shopguard_storage::Scope;

use crate::console::charts::sparkline;
use crate::console::{Reply, Ui};
use crate::state::now_ms;

/// The ranges offered, in minutes: 15 minutes, 1 hour, 6 hours, 1 day, 7 days, 30 days.
pub(crate) const RANGES: [u32; 6] = [15, 60, 360, 1_440, 10_080, 43_200];

/// `?range=` in minutes.
#[derive(Debug, Deserialize)]
pub(crate) struct RangeQuery {
    range: Option<u32>,
}

fn range_of(query: &RangeQuery) -> u32 {
    query
        .range
        .filter(|range| RANGES.contains(range))
        .unwrap_or(15)
}

/// `GET /console/situation`.
pub(crate) async fn page(ui: Ui, Query(query): Query<RangeQuery>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let range = range_of(&query);
    let summary = ui.console.situation.summary(range, now_ms());
    let chart = sparkline(&summary.series, 640, 80, &ui.text("situation.events_chart"));
    let deny_chart = sparkline(
        &summary.deny_series,
        640,
        80,
        &ui.text("situation.deny_chart"),
    );
    let from_ms = now_ms() - i64::from(range) * 60_000;
    ui.page(
        "situation.html",
        context! {
            ranges => RANGES,
            range => range,
            summary => summary,
            chart => chart,
            deny_chart => deny_chart,
            from_ms => from_ms,
        },
    )
}

/// Entities shown per kind in the situation's "top entities by denials".
const TOP_ENTITIES: usize = 10;

/// `GET /console/situation/top-entities?range=` (htmx): the users, IPs, networks and devices
/// behind the most denials of the range, counted from the decision log (so across restarts
/// and nodes), over its most recent denials.
pub(crate) async fn top_entities(ui: Ui, Query(query): Query<RangeQuery>) -> Reply {
    ui.require(Scope::DecisionsRead)?;
    let range = range_of(&query);
    let to_ms = now_ms();
    let from_ms = to_ms - i64::from(range) * 60_000;
    let principal = ui.principal.clone();
    let found = ui
        .run(move |app| {
            app.decisions()?
                .top_denied(from_ms, to_ms, TOP_ENTITIES, &principal)
        })
        .await?;
    ui.page(
        "situation_top.html",
        context! {
            top => found.top,
            sampled => found.sampled,
            sample => shopguard_app::TOP_DENIED_SAMPLE,
            from_ms => from_ms,
            range => range,
        },
    )
}

/// `GET /console/situation/stream?range=`: the page's figures once a second as server-sent
/// events (`summary`, JSON), so the open page is at most a second or two behind.
pub(crate) async fn stream(ui: Ui, Query(query): Query<RangeQuery>) -> Response {
    if let Err(refused) = ui.require(Scope::DecisionsRead) {
        return refused;
    }
    let range = range_of(&query);
    let situation = ui.console.situation.clone();
    let stopping = ui.state.stopping.subscribe();
    let events = stream::unfold(
        (
            situation,
            tokio::time::interval(Duration::from_secs(1)),
            stopping,
        ),
        move |(situation, mut tick, mut stopping)| async move {
            tokio::select! {
                _ = tick.tick() => {}
                // The server is stopping (or gone): end the stream.
                _ = stopping.wait_for(|stop| *stop) => return None,
            }
            if *stopping.borrow() {
                return None;
            }
            let summary = situation.summary(range, now_ms());
            let event = Event::default()
                .event("summary")
                .json_data(&summary)
                .unwrap_or_else(|_| Event::default().comment("unencodable"));
            Some((Ok::<_, Infallible>(event), (situation, tick, stopping)))
        },
    );
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
