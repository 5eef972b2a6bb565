//! `shopguard incident`: list, show, report, triage, grade and move incidents on a node's
//! storage (works on the data folder directly, or the PostgreSQL database it is configured
//! with), through the incident service. Changes are audited with the command-line actor.

use anyhow::Result;
use clap::Subcommand;
use shopguard_app::incidents::IncidentReport;
use shopguard_app::{App, Principal};
use shopguard_core::incident::grading::GradingInputs;
use shopguard_core::incident::record::{Incident, Observable, ObservableKind};
use shopguard_core::incident::{Category, Level, Status, SystemImportance, SystemLoss, Verdict};
use shopguard_storage::IncidentFilter;

use crate::common::{cli_error, DataDirArgs};

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// List incidents, newest first.
    List {
        /// Only this status: reported, triaged, assessed, responding, recovered, closed,
        /// reviewed.
        #[arg(long)]
        status: Option<Status>,
        /// Only this effective level: i, ii, iii, iv.
        #[arg(long)]
        level: Option<Level>,
        /// Only this category: phishing_trojan, account_theft, fraud, spam,
        /// ip_infringement, privacy_breach, malicious_information.
        #[arg(long)]
        category: Option<Category>,
        /// At most this many (1 to 1,000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Show one incident as JSON, with its history when asked.
    Show {
        /// The incident's number.
        id: i64,
        /// Print the field-by-field history too.
        #[arg(long)]
        history: bool,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Report an incident by hand (the report form of DB33/T 978-2015 §10.3).
    Report {
        /// A short title (1 to 200 characters).
        #[arg(long)]
        title: String,
        /// Its category: phishing_trojan, account_theft, fraud, spam, ip_infringement,
        /// privacy_breach, malicious_information.
        #[arg(long)]
        category: Category,
        /// What happened.
        #[arg(long, default_value = "")]
        description: String,
        /// An affected system (repeat for several).
        #[arg(long = "system")]
        systems: Vec<String>,
        /// An observable as KIND=VALUE, KIND one of ip, account, device, url, listing,
        /// card_bin, email, other (repeat for several).
        #[arg(long = "observable")]
        observables: Vec<String>,
        /// The reporter is not sure of the level (§10.3).
        #[arg(long)]
        unsure_of_level: bool,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Triage a reported incident with a verdict and a reason (§10.5 b).
    Triage {
        /// The incident's number.
        id: i64,
        /// The version you read (`incident show`); a stale one is refused.
        #[arg(long)]
        version: i64,
        /// true_positive, false_positive, duplicate or benign.
        #[arg(long)]
        verdict: Verdict,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Grade an incident by §6.3–6.4 and print the level with the clauses that decided it.
    Grade {
        /// The incident's number.
        id: i64,
        /// The version you read; a stale one is refused.
        #[arg(long)]
        version: i64,
        /// System importance: particularly_important, important, general.
        #[arg(long)]
        importance: Option<SystemImportance>,
        /// System loss: particularly_serious, serious, relatively_large, minor.
        #[arg(long)]
        loss: Option<SystemLoss>,
        /// Users affected.
        #[arg(long)]
        affected_users: Option<u64>,
        /// Users of the platform.
        #[arg(long)]
        platform_users: Option<u64>,
        #[command(flatten)]
        data: DataDirArgs,
    },
    /// Move an incident through its lifecycle: assessed, responding, recovered, closed,
    /// reviewed (closed → responding reopens and needs --reason; reviewed needs --summary).
    Transition {
        /// The incident's number.
        id: i64,
        /// The version you read; a stale one is refused.
        #[arg(long)]
        version: i64,
        /// Where to.
        #[arg(long)]
        to: Status,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        /// The review's summary (to become reviewed).
        #[arg(long)]
        summary: Option<String>,
        #[command(flatten)]
        data: DataDirArgs,
    },
}

fn line(incident: &Incident) -> String {
    let level = incident
        .effective_level()
        .map_or("-".to_owned(), |level| level.roman().to_owned());
    format!(
        "{:<8} {:<11} {:<5} {:<22} v{:<4} {}",
        incident.id,
        incident.status.as_str(),
        level,
        incident.category.as_str(),
        incident.version,
        incident.title
    )
}

fn observable(text: &str) -> Result<Observable> {
    let (kind, value) = text
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("observable '{text}': write it as KIND=VALUE"))?;
    Ok(Observable {
        kind: kind.parse::<ObservableKind>().map_err(anyhow::Error::msg)?,
        value: value.to_owned(),
    })
}

fn print(incident: &Incident) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(incident)?);
    Ok(())
}

/// Runs an incident command.
pub fn run(command: IncidentCommand) -> Result<()> {
    let caller = Principal::cli();
    match command {
        IncidentCommand::List {
            status,
            level,
            category,
            limit,
            data,
        } => {
            let app = App::open_admin(data.config()?)?;
            let filter = IncidentFilter {
                status,
                level,
                category,
                limit,
                ..IncidentFilter::default()
            };
            let page = app.incidents.list(&filter, &caller).map_err(cli_error)?;
            println!(
                "{:<8} {:<11} {:<5} {:<22} {:<5} title",
                "id", "status", "level", "category", "ver"
            );
            for incident in &page.incidents {
                println!("{}", line(incident));
            }
            let more = if page.total_capped { "+" } else { "" };
            println!("{} shown of {}{more}", page.incidents.len(), page.total);
            Ok(())
        }
        IncidentCommand::Show { id, history, data } => {
            let app = App::open_admin(data.config()?)?;
            print(&app.incidents.get(id, &caller).map_err(cli_error)?)?;
            if history {
                let entries = app.incidents.history(id, &caller).map_err(cli_error)?;
                println!("{}", serde_json::to_string_pretty(&entries)?);
            }
            Ok(())
        }
        IncidentCommand::Report {
            title,
            category,
            description,
            systems,
            observables,
            unsure_of_level,
            data,
        } => {
            let observables = observables
                .iter()
                .map(|text| observable(text))
                .collect::<Result<Vec<_>>>()?;
            let app = App::open_admin(data.config()?)?;
            let report = IncidentReport {
                title,
                category,
                tags: Vec::new(),
                discovered_at_ms: None,
                affected_systems: systems,
                description,
                evidence: String::new(),
                observables,
                unsure_of_level,
                is_drill: false,
            };
            let incident = app.incidents.report(report, &caller).map_err(cli_error)?;
            println!(
                "incident {} reported (version {})",
                incident.id, incident.version
            );
            Ok(())
        }
        IncidentCommand::Triage {
            id,
            version,
            verdict,
            reason,
            data,
        } => {
            let app = App::open_admin(data.config()?)?;
            let incident = app
                .incidents
                .triage(id, version, verdict, &reason, &caller)
                .map_err(cli_error)?;
            println!("{}", line(&incident));
            Ok(())
        }
        IncidentCommand::Grade {
            id,
            version,
            importance,
            loss,
            affected_users,
            platform_users,
            data,
        } => {
            let app = App::open_admin(data.config()?)?;
            let inputs = GradingInputs {
                importance,
                loss,
                affected_users,
                platform_users,
            };
            let incident = app
                .incidents
                .grade(id, version, inputs, &caller)
                .map_err(cli_error)?;
            println!("{}", line(&incident));
            for reason in &incident.grade_reasons {
                println!("  {:<10} {}", reason.clause, reason.en);
            }
            Ok(())
        }
        IncidentCommand::Transition {
            id,
            version,
            to,
            reason,
            summary,
            data,
        } => {
            let app = App::open_admin(data.config()?)?;
            let incident = app
                .incidents
                .transition(
                    id,
                    version,
                    to,
                    reason.as_deref(),
                    summary.as_deref(),
                    &caller,
                )
                .map_err(cli_error)?;
            println!("{}", line(&incident));
            Ok(())
        }
    }
}
