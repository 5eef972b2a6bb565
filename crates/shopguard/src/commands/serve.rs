//! `shopguard serve`: read the configuration, open the node and serve the HTTP API.

use std::path::PathBuf;

use anyhow::{Context, Result};
use shopguard_server::ServerConfig;

use crate::common::DEFAULT_POLICY;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file; flags and SHOPGUARD_* variables override it.
    #[arg(long, env = "SHOPGUARD_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8686].
    #[arg(long, env = "SHOPGUARD_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Data folder [default: ./data].
    #[arg(long, env = "SHOPGUARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Policy file to load at start (stored as a new version if it differs from the live one).
    #[arg(long, env = "SHOPGUARD_POLICY")]
    policy: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "SHOPGUARD_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Serve POST /v1/noop, for measuring the HTTP stack's ceiling.
    #[arg(long)]
    enable_noop_endpoint: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: escapes in a log file or a collector are noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    init_logging(args.log_format);
    let file = match &args.config {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let mut config = ServerConfig::load(file.as_deref(), &|name| std::env::var(name).ok())
        .with_context(|| match &args.config {
            Some(path) => format!(
                "reading the configuration ({} and SHOPGUARD_* variables)",
                path.display()
            ),
            None => "reading the configuration (SHOPGUARD_* variables)".to_owned(),
        })?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if args.policy.is_some() {
        config.policy_file = args.policy;
    }
    config.enable_noop_endpoint |= args.enable_noop_endpoint;
    let listen = config.listen;
    let data_dir = config.data_dir.clone();
    let started =
        tokio::task::spawn_blocking(move || shopguard_server::start(config, DEFAULT_POLICY))
            .await??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let policy = started.state.app.engine.policy();
    println!("shopguard listening on http://{}", listener.local_addr()?);
    println!("data folder: {}", data_dir.display());
    println!(
        "policy '{}' version {}: {} rules, {} features",
        policy.document.policy.name,
        policy.version,
        policy.rules.len(),
        policy.features.len()
    );
    match &started.bootstrap_key_file {
        Some(path) => println!(
            "first start: an admin API key was written to {} (readable by you only).\n\
             Use it as 'Authorization: Bearer <key>'; make narrower keys with\n  shopguard keys create --name checkout --scope events:write --data-dir {}",
            path.display(),
            data_dir.display()
        ),
        None => println!("API keys: shopguard keys list --data-dir {}", data_dir.display()),
    }
    shopguard_server::serve(started.state, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: draining the decision log");
}
