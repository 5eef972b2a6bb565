//! Issue 17, "acknowledged means durable": every decision a client got a `200` for is in the
//! log after the node is killed with SIGKILL in the middle of a load of single events and
//! batches.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shopguard_storage::embedded::EmbeddedStore;
use shopguard_storage::DecisionStore;

use super::{http, serve_with};

/// Concurrent clients, each on its own keep-alive connection.
const CLIENTS: usize = 8;
/// Events in each batch request (every other request is a batch).
const BATCH: usize = 25;
/// How long the load runs before the kill.
const LOAD: Duration = Duration::from_millis(2_500);

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(address: &str) -> std::io::Result<Connection> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Connection {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends a POST and reads the answer: its status and body. Any error (the server was
    /// killed) ends the exchange, and its answer is not taken as an acknowledgement.
    fn post(&mut self, path: &str, key: &str, body: &str) -> std::io::Result<(u16, String)> {
        write!(
            self.writer,
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let broken = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "cut off");
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(broken());
        }
        let status: u16 = line
            .get(9..12)
            .and_then(|code| code.parse().ok())
            .ok_or_else(broken)?;
        let mut length = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(broken());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.ok_or_else(broken)?];
        self.reader.read_exact(&mut body)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// Every `"decision_id":"…"` in an answer.
fn decision_ids(answer: &str) -> Vec<String> {
    answer
        .split("\"decision_id\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect()
}

fn event(client: usize, n: usize) -> String {
    format!(
        r#"{{"kind":"login_failed","user_id":"user-{client}-{}","ip":"198.51.100.{}","failure_reason":"bad_password"}}"#,
        n % 500,
        n % 250
    )
}

/// Drives single events and batches from [`CLIENTS`] connections until the server dies;
/// returns every decision id answered with `200`, and how many requests were refused.
fn load_until_killed(
    address: &str,
    key: &str,
    server: &mut std::process::Child,
) -> (Vec<String>, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (address, key, stop) = (address.to_owned(), key.to_owned(), stop.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut refused = 0;
                let Ok(mut connection) = Connection::open(&address) else {
                    return (acknowledged, refused);
                };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (path, body) = if n % 2 == 0 {
                        ("/v1/events", event(client, n))
                    } else {
                        let events: Vec<String> =
                            (0..BATCH).map(|i| event(client, n * BATCH + i)).collect();
                        (
                            "/v1/events/batch",
                            format!(r#"{{"events":[{}]}}"#, events.join(",")),
                        )
                    };
                    n += 1;
                    match connection.post(path, &key, &body) {
                        Ok((200, answer)) => acknowledged.extend(decision_ids(&answer)),
                        Ok(_) => refused += 1,
                        Err(_) => break,
                    }
                }
                (acknowledged, refused)
            })
        })
        .collect();
    std::thread::sleep(LOAD);
    // No graceful stop: SIGKILL, as the OOM killer or a power cut would (for the process).
    server.kill().unwrap();
    server.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for client in clients {
        let (ids, refusals) = client.join().unwrap();
        acknowledged.extend(ids);
        refused += refusals;
    }
    (acknowledged, refused)
}

/// Runs the load with `decision_ack` set to `mode`, kills the node, and returns the
/// acknowledged decisions and those of them the log does not hold.
fn acknowledged_and_lost(mode: &str) -> (usize, Vec<String>) {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().to_str().unwrap();
    let (mut server, address) = serve_with(data, &[("SHOPGUARD_DECISION_ACK", mode)]);
    let key = std::fs::read_to_string(folder.path().join("admin-api-key"))
        .unwrap()
        .trim()
        .to_owned();
    let (acknowledged, refused) = load_until_killed(&address, &key, &mut server);
    assert_eq!(refused, 0, "every request answered 200 until the kill");
    assert!(
        acknowledged.len() > 1_000,
        "a real load: {} acknowledged",
        acknowledged.len()
    );

    // The node starts again on the same folder (cutting a torn tail), and serves what was
    // acknowledged last.
    let (mut again, address) = serve_with(data, &[("SHOPGUARD_DECISION_ACK", mode)]);
    let newest = &acknowledged[acknowledged.len() - 1];
    let (status, body) = http(
        &address,
        "GET",
        &format!("/v1/decisions/{newest}"),
        &key,
        "",
    );
    let served_newest = status == 200 && body.contains(newest.as_str());
    again.kill().unwrap();
    again.wait().unwrap();

    // Every acknowledged id, looked up in the stopped node's log.
    let store = EmbeddedStore::open(folder.path()).unwrap();
    let lost: Vec<String> = acknowledged
        .iter()
        .filter(|id| store.decision(id).unwrap().is_none())
        .cloned()
        .collect();
    assert_eq!(
        served_newest,
        !lost.contains(newest),
        "the restarted node and the log agree"
    );
    (acknowledged.len(), lost)
}

#[test]
fn acknowledged_decisions_survive_a_kill_9_under_load() {
    let (acknowledged, lost) = acknowledged_and_lost("durable");
    assert!(
        lost.is_empty(),
        "{} of {acknowledged} acknowledged decisions lost, for example {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

/// The same load in queued mode, where an answer does not wait for the disk: acknowledged
/// decisions can be lost. Timing-dependent (a kill may fall between two writes), so it is not
/// run by default: `cargo nextest run -p shopguard --run-ignored only -E 'test(queued)'`.
#[test]
#[ignore = "shows the loss durable mode prevents; depends on where the kill falls"]
fn queued_acknowledgements_can_be_lost_to_a_kill_9() {
    let (acknowledged, lost) = acknowledged_and_lost("queued");
    eprintln!(
        "queued mode: {} of {acknowledged} acknowledged decisions lost",
        lost.len()
    );
    assert!(!lost.is_empty(), "none of {acknowledged} lost this time");
}
