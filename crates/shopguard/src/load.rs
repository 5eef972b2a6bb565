//! `shopguard load`: a closed-loop load generator for a running server.
//!
//! Each of `--connections` keep-alive HTTP/1.1 connections sends one request, waits for the
//! answer, and sends the next, for `--seconds`. Bodies are simulated events, prepared before
//! the clock starts. It reports requests and events per second and latency percentiles, so
//! that `--mode events` and `--mode noop` measured in one run give the engine's cost as a
//! ratio to the HTTP stack's ceiling.
//!
//! The traffic is a population, not a loop: `--users` simulated users over the `--days` up
//! to now, keeping the simulator's event times, sent in time order (the connections take the
//! next body from one shared counter). Each event is sent once; only when a run outlasts the
//! population does it start over (the report then says `wrapped`), and repeated events then
//! inflate velocity counts. Replaying a few hundred users at tens of thousands of events per
//! second would make every velocity rule fire and measure a platform under total attack.

use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use shopguard_sim::{generate, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadMode {
    /// One event per request to `/v1/events`.
    Events,
    /// `--batch-size` events per request to `/v1/events/batch`.
    Batch,
    /// One event per request to `/v1/noop` (server started with `--enable-noop-endpoint`).
    Noop,
    /// `--batch-size` events per request to `/v1/noop`: the HTTP stack's ceiling for batches.
    NoopBatch,
}

impl LoadMode {
    fn is_batch(self) -> bool {
        matches!(self, LoadMode::Batch | LoadMode::NoopBatch)
    }
}

/// Options of `shopguard load`.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadArgs {
    /// What to send.
    #[arg(long, value_enum, default_value = "events")]
    pub mode: LoadMode,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// How long to run, in seconds (at most 600).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Events per request in batch mode.
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Server address (host:port; loopback only).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub address: String,
    /// Simulated users whose traffic is sent.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Days of history of the simulated users, ending now (at least 2).
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Seed of the simulated population; by default a new one each run, so that runs against
    /// the same server do not repeat each other's events.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads of the load generator's own runtime. One keeps the generator's share of a
    /// small machine low and its connections on one thread (no wake-ups across threads).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// API key with events:write.
    #[arg(long, env = "SHOPGUARD_API_KEY", hide_env_values = true)]
    pub api_key: String,
}

/// What a run measured.
#[derive(Debug, serde::Serialize)]
pub struct LoadReport {
    /// Mode.
    pub mode: String,
    /// Requests completed with 2xx.
    pub requests: u64,
    /// Requests that failed or got another status.
    pub errors: u64,
    /// Requests per second.
    pub requests_per_second: f64,
    /// Events per second.
    pub events_per_second: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// 99.9th percentile latency, ms.
    pub p999_ms: f64,
    /// Events prepared.
    pub events_prepared: usize,
    /// Whether the run used up the prepared events and sent some again.
    pub wrapped: bool,
    /// Statuses of refused requests, with how many of each.
    pub error_statuses: std::collections::BTreeMap<u16, u64>,
}

fn bodies(args: &LoadArgs) -> (Vec<Bytes>, usize) {
    let days = args.days.max(2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64);
    let events = generate(&SimConfig {
        users: args.users.max(1),
        days,
        instances_per_attack: (args.users / 1_000).max(2),
        start_ms: now - i64::from(days) * 86_400_000,
        seed: args.seed.unwrap_or(now as u64),
    })
    .into_iter()
    .map(|labelled| labelled.event)
    .collect::<Vec<_>>();
    // Shift the traffic so that its last event happened a minute ago: the server refuses
    // events from the future.
    let latest = events
        .iter()
        .filter_map(|event| event.occurred_at_ms)
        .max()
        .unwrap_or(now);
    let shift = now - 60_000 - latest;
    let events: Vec<serde_json::Value> = events
        .into_iter()
        .map(|mut event| {
            event.occurred_at_ms = event.occurred_at_ms.map(|at| at + shift);
            serde_json::to_value(event).unwrap_or_default()
        })
        .collect();
    let count = events.len();
    let bodies = match args.mode {
        LoadMode::Events | LoadMode::Noop => events
            .iter()
            .map(|event| Bytes::from(event.to_string()))
            .collect(),
        LoadMode::Batch | LoadMode::NoopBatch => events
            .chunks(args.batch_size.max(1))
            .map(|chunk| Bytes::from(serde_json::json!({ "events": chunk }).to_string()))
            .collect(),
    };
    (bodies, count)
}

/// Largest response head the load generator accepts.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// One keep-alive HTTP/1.1 connection that sends a request and reads its whole answer, in
/// one task. A benchmark client should cost as little as it can, so that the server's share
/// of the machine shows: this one writes prepared bytes and reads the status line and
/// `content-length`, nothing more (no chunked bodies, no pipelining).
struct Http1Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl Http1Connection {
    async fn connect(address: std::net::SocketAddr) -> std::io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Http1Connection {
            stream,
            buffer: Vec::with_capacity(64 * 1024),
        })
    }

    /// Sends a whole request and returns the answer's status once its body has arrived.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        self.buffer.clear();
        let head_end = loop {
            if let Some(position) = find(&self.buffer, b"\r\n\r\n") {
                break position + 4;
            }
            if self.buffer.len() > MAX_RESPONSE_HEAD {
                return Err(invalid("response head too large"));
            }
            self.read_more().await?;
        };
        let (status, length) = parse_head(&self.buffer[..head_end])?;
        while self.buffer.len() < head_end + length {
            self.read_more().await?;
        }
        Ok(status)
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        self.buffer.reserve(16 * 1024);
        if self.stream.read_buf(&mut self.buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

fn invalid(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_owned())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The status code and body length of a response head.
fn parse_head(head: &[u8]) -> std::io::Result<(u16, usize)> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status line"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked responses are not supported"));
        }
    }
    Ok((status, length.ok_or_else(|| invalid("no content-length"))?))
}

fn percentile(sorted: &[u32], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[index]) / 1000.0
}

/// Runs the load on a runtime of `--threads` threads of its own, in a thread of its own, and
/// reports.
pub async fn run_on_own_runtime(args: LoadArgs) -> Result<LoadReport> {
    let (done, report) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("load".into())
        .spawn(move || {
            let runtime = if args.threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(args.threads)
                    .enable_all()
                    .build()
            };
            let result = match runtime {
                Ok(runtime) => runtime.block_on(run(args)),
                Err(error) => Err(error.into()),
            };
            let _ = done.send(result);
        })?;
    report
        .await
        .context("the load generator's thread stopped")?
}

/// Runs the load and reports.
pub async fn run(args: LoadArgs) -> Result<LoadReport> {
    if args.seconds == 0 || args.seconds > 600 {
        bail!("--seconds must lie in 1..=600");
    }
    let address: std::net::SocketAddr = args
        .address
        .parse()
        .context("--address must be host:port, like 127.0.0.1:8686")?;
    if !address.ip().is_loopback() {
        bail!("the load generator only targets loopback addresses");
    }
    let path = match args.mode {
        LoadMode::Events => "/v1/events",
        LoadMode::Batch => "/v1/events/batch",
        LoadMode::Noop | LoadMode::NoopBatch => "/v1/noop",
    };
    let (bodies, events_prepared) = bodies(&args);
    let bodies = Arc::new(bodies);
    let next_body = Arc::new(AtomicUsize::new(0));
    let events_per_request = if args.mode.is_batch() {
        args.batch_size.max(1)
    } else {
        1
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    // Everything of a request up to its Content-Length value; the same for every request.
    let head: Arc<str> = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nauthorization: Bearer {}\r\ncontent-length: ",
        args.api_key
    )
    .into();
    let mut tasks = Vec::with_capacity(args.connections);
    let started = Instant::now();
    for _ in 0..args.connections.max(1) {
        let bodies = bodies.clone();
        let next_body = next_body.clone();
        let head = head.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Http1Connection::connect(address).await?;
            let mut request = Vec::with_capacity(64 * 1024);
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            let mut errors = std::collections::BTreeMap::<u16, u64>::new();
            while Instant::now() < deadline {
                let index = next_body.fetch_add(1, Ordering::Relaxed);
                let body = &bodies[index % bodies.len()];
                request.clear();
                request.extend_from_slice(head.as_bytes());
                write!(request, "{}\r\n\r\n", body.len())?;
                request.extend_from_slice(body);
                let sent = Instant::now();
                match connection.exchange(&request).await {
                    Ok(status) if (200..300).contains(&status) => {
                        latencies.push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Ok(status) => *errors.entry(status).or_default() += 1,
                    Err(_) => {
                        // 0 stands for a connection failure.
                        *errors.entry(0).or_default() += 1;
                        break;
                    }
                }
            }
            Ok::<_, anyhow::Error>((latencies, errors))
        }));
    }
    let mut latencies = Vec::new();
    let mut error_statuses = std::collections::BTreeMap::<u16, u64>::new();
    for task in tasks {
        let (task_latencies, task_errors) = task.await??;
        latencies.extend(task_latencies);
        for (status, count) in task_errors {
            *error_statuses.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    Ok(LoadReport {
        mode: clap::ValueEnum::to_possible_value(&args.mode)
            .map_or_else(String::new, |value| value.get_name().to_owned()),
        requests,
        errors: error_statuses.values().sum(),
        requests_per_second: requests as f64 / elapsed,
        events_per_second: (requests as usize * events_per_request) as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        p999_ms: percentile(&latencies, 0.999),
        events_prepared,
        wrapped: next_body.load(Ordering::Relaxed) > bodies.len(),
        error_statuses,
    })
}
