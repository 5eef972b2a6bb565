//! `shopguard simulate`: generate labelled traffic and score a policy in process or a running
//! server against it.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hyper::Method;
use shopguard_core::{Engine, ListRegistry};
use shopguard_sim::{generate, seed_list_entries, LabelledEvent, Scoreboard, SimConfig};

use crate::client::{ApiClient, ServerArgs};
use crate::common::{now_ms, progress, read_policy, DEFAULT_POLICY};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Normal users.
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// Days of normal history (attacks happen on the last day).
    #[arg(long, default_value_t = 10)]
    days: u32,
    /// Instances of each attack kind.
    #[arg(long, default_value_t = 20)]
    instances: usize,
    /// Seed: the same seed gives the same traffic.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Policy to score in process [default: the shipped policy].
    #[arg(long, conflicts_with = "drive")]
    policy: Option<PathBuf>,
    /// Write the labelled events as JSON lines to this file instead of scoring.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Send the traffic to a running server (batch endpoint) and score its answers.
    #[arg(long)]
    drive: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs a simulation.
pub async fn run(args: SimulateArgs) -> Result<()> {
    let config = SimConfig {
        seed: args.seed,
        users: args.users,
        days: args.days.max(2),
        instances_per_attack: args.instances,
        // Recent enough for a server's clock checks, whatever the date.
        start_ms: now_ms() - i64::from(args.days.max(2)) * 86_400_000 - 3_600_000,
    };
    let events = generate(&config);
    eprintln!(
        "generated {} events ({} users, {} days, {} instances of each attack)",
        events.len(),
        config.users,
        config.days,
        config.instances_per_attack
    );
    if let Some(out) = &args.out {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?,
        );
        let bar = progress(events.len() as u64, "writing");
        for event in &events {
            serde_json::to_writer(&mut file, event)?;
            file.write_all(b"\n")?;
            bar.inc(1);
        }
        file.flush()?;
        bar.finish_and_clear();
        println!(
            "wrote {} labelled events to {}",
            events.len(),
            out.display()
        );
        return Ok(());
    }
    let scoreboard = if args.drive {
        drive_server(&args.server, events).await?
    } else {
        score_with_policy(args.policy.as_ref(), events)?
    };
    println!("{}", scoreboard.table());
    let rules = scoreboard.normal_flag_rules();
    if !rules.is_empty() {
        println!(
            "rules that flagged normal traffic: {}",
            rules
                .iter()
                .map(|(rule, count)| format!("{rule} ({count})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn score_with_policy(policy: Option<&PathBuf>, events: Vec<LabelledEvent>) -> Result<Scoreboard> {
    let source = match policy {
        Some(file) => read_policy(file)?,
        None => DEFAULT_POLICY.to_owned(),
    };
    let engine = Engine::new(&source, 0, Arc::new(ListRegistry::new()))?;
    shopguard_sim::seed_lists(&engine)?;
    let bar = progress(events.len() as u64, "deciding");
    let scoreboard =
        shopguard_sim::score_in_process(&engine, events, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    Ok(scoreboard)
}

async fn drive_server(server: &ServerArgs, events: Vec<LabelledEvent>) -> Result<Scoreboard> {
    let client = ApiClient::new(server)?;
    for (list, value) in seed_list_entries() {
        let body = serde_json::to_vec(&shopguard_api_types::AddListEntryRequest {
            value,
            ttl_seconds: None,
            reason: "simulation seed".into(),
            force: false,
        })?;
        client
            .call(
                Method::POST,
                &format!("/v1/lists/{list}/entries"),
                "application/json",
                body,
            )
            .await?;
    }
    let bar = progress(events.len() as u64, "sending");
    let mut scoreboard = Scoreboard::default();
    for chunk in events.chunks(500) {
        let request = shopguard_api_types::BatchRequest {
            events: chunk
                .iter()
                .map(|labelled| labelled.event.clone())
                .collect(),
        };
        let body = client
            .call(
                Method::POST,
                "/v1/events/batch",
                "application/json",
                serde_json::to_vec(&request)?,
            )
            .await?;
        let response: shopguard_api_types::BatchResponse = serde_json::from_slice(&body)?;
        for (labelled, decision) in chunk.iter().zip(&response.decisions) {
            scoreboard.record(labelled.label, decision);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    scoreboard.finish();
    Ok(scoreboard)
}
