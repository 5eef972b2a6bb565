//! The console in a real browser: the real binary is started on a fresh data folder, six
//! operators are created with the CLI (one per role the checks need), and
//! `tests/browser/console.mjs` drives Debian's Chromium through it with playwright-core (npm).
//! Any check that fails fails this test, with the script's output.
//!
//! `scripts/test.sh` installs Chromium and the npm package when they are missing and sets
//! `SHOPGUARD_REQUIRE_BROWSER=1`; outside it, a missing browser or package makes this test
//! say so loudly and pass. `SHOPGUARD_SCREENSHOTS=DIR` keeps the screenshots the script takes
//! (`docs/console/` holds the ones the documentation shows).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{free_port, wait_until_healthy, Server};

/// Longest the browser run may take.
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The operators the checks sign in as: name and roles.
const OPERATORS: [(&str, &str); 7] = [
    ("ana", "responder"),
    ("rita", "rule_author"),
    ("abe", "approver"),
    ("vic", "viewer"),
    ("zoe", "viewer"),
    ("aud", "auditor"),
    ("tab", "viewer"),
];

/// A password good enough for the CLI's strength check.
const PASSWORD: &str = "correct-Horse-battery-st4ple";

fn browser_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Skips (or, under `SHOPGUARD_REQUIRE_BROWSER=1`, fails) with `message`.
fn unavailable(message: &str) {
    let required = std::env::var("SHOPGUARD_REQUIRE_BROWSER").is_ok_and(|value| value == "1");
    assert!(!required, "{message}");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
}

/// Creates an operator with the CLI; returns their TOTP secret (base32).
fn create_operator(data: &Path, name: &str, role: &str) -> String {
    let password_file = data.join(format!("{name}.password"));
    std::fs::write(&password_file, PASSWORD).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(["operators", "create", "--username", name, "--role", role])
        .arg("--password-file")
        .arg(&password_file)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "operators create {name}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let start = text
        .find("secret=")
        .expect("the enrolment names the secret")
        + "secret=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || ('2'..='7').contains(c))
        .collect()
}

#[test]
fn the_console_works_in_a_real_browser() {
    let chromium = std::env::var("SG_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let folder = browser_folder();
    if !Path::new(&chromium).exists() {
        return unavailable(&format!(
            "no browser at {chromium}: `apt-get install chromium` (scripts/test.sh does)"
        ));
    }
    if !folder.join("node_modules/playwright-core").exists() {
        return unavailable(&format!(
            "playwright-core is not installed: `npm ci` in {} (scripts/test.sh does)",
            folder.display()
        ));
    }

    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(data.path().join("server.log")).unwrap();
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_shopguard"))
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    wait_until_healthy(port);
    let key = std::fs::read_to_string(data.path().join("admin-api-key")).unwrap();
    let operators: serde_json::Map<String, serde_json::Value> = OPERATORS
        .iter()
        .map(|(name, role)| {
            let secret = create_operator(data.path(), name, role);
            (
                (*name).to_owned(),
                serde_json::json!({ "password": PASSWORD, "secret": secret }),
            )
        })
        .collect();

    let output_path = data.path().join("browser.txt");
    let mut run = Command::new("node")
        .arg("console.mjs")
        .current_dir(&folder)
        .env("SG_URL", format!("http://{listen}"))
        .env("SG_API_KEY", key.trim())
        .env(
            "SG_OPERATORS",
            serde_json::Value::Object(operators).to_string(),
        )
        .env("SG_CHROMIUM", &chromium)
        .env(
            "SG_SCREENSHOTS",
            std::env::var("SHOPGUARD_SCREENSHOTS").unwrap_or_default(),
        )
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output_path).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = run.stderr.take().unwrap();
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = run.kill();
            let _ = run.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut errors = String::new();
    let _ = stderr.read_to_string(&mut errors);
    drop(server);
    let output = std::fs::read_to_string(&output_path).unwrap_or_default();
    let server_log = std::fs::read_to_string(data.path().join("server.log")).unwrap_or_default();
    println!("{output}");
    match status {
        Some(status) => assert!(
            status.success(),
            "a browser check failed:\n{output}\n{errors}\nserver log:\n{server_log}"
        ),
        None => panic!(
            "the browser checks did not finish within {} s:\n{output}\n{errors}",
            RUN_LIMIT.as_secs()
        ),
    }
}

/// Sends one HTTP/1.1 request over a new connection and returns the stream (the answer not yet
/// read).
fn send(port: u16, request: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream
}

#[test]
fn an_open_situation_stream_does_not_hold_up_a_graceful_stop() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_shopguard"))
            .args(["serve", "--listen", &listen, "--data-dir"])
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_healthy(port);
    let secret = create_operator(data.path(), "eve", "viewer");
    let mut totp = Command::new(env!("CARGO_BIN_EXE_shopguard"))
        .args(["operators", "totp-code"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(totp.stdin.as_mut().unwrap(), secret.as_bytes()).unwrap();
    drop(totp.stdin.take());
    let code = String::from_utf8(totp.wait_with_output().unwrap().stdout).unwrap();
    let body = format!(
        r#"{{"username":"eve","password":"{PASSWORD}","totp_code":"{}"}}"#,
        code.trim()
    );
    let mut answer = String::new();
    send(
        port,
        &format!(
            "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .read_to_string(&mut answer)
    .unwrap();
    let start = answer.find("\"token\":\"").expect("a session token") + 9;
    let token: String = answer[start..].chars().take_while(|c| *c != '"').collect();

    let mut stream = send(
        port,
        &format!("GET /console/situation/stream HTTP/1.1\r\nHost: x\r\nCookie: sg_session={token}\r\n\r\n"),
    );
    let mut first = [0u8; 512];
    let read = stream.read(&mut first).unwrap();
    let head = String::from_utf8_lossy(&first[..read]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");

    // SIGTERM: the graceful stop must end the stream and exit, not wait for the viewer.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let asked = Instant::now();
    loop {
        if server.0.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "the server still runs 15 s after SIGTERM with a situation stream open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
