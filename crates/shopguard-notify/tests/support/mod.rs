//! Helpers of the tests against real peers: the repository's Python venv, free ports, and
//! peer processes that are killed when the test ends.
//!
//! The peers are Python programs beside the tests (`smtp_server.py`, `webhook_receiver.py`)
//! run with `.venv/bin/python` at the repository root, which `scripts/test.sh` creates from
//! `requirements-test.txt`. Outside `scripts/test.sh` the venv may be missing: the tests then
//! say so loudly and pass, unless the variable named by the caller
//! (`SHOPGUARD_REQUIRE_SMTP`, `SHOPGUARD_REQUIRE_WEBHOOKS`) is `1`, which `scripts/test.sh`
//! sets; then a missing venv is a failure.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The venv's Python when it has `module`, else `None` after saying why (or a panic when
/// `require_variable` is `1`).
pub fn venv_python(module: &str, require_variable: &str) -> Option<PathBuf> {
    let python = repository_root().join(".venv/bin/python");
    let has_module = python.exists()
        && Command::new(&python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
    if has_module {
        return Some(python);
    }
    let required = std::env::var(require_variable).is_ok_and(|value| value == "1");
    let message = format!(
        "the Python module {module} is not installed in {}: run scripts/test.sh (it creates \
         the venv from requirements-test.txt), or `python3 -m venv .venv && \
         .venv/bin/pip install -r requirements-test.txt`",
        python.display()
    );
    assert!(!required, "{message} ({require_variable}=1)");
    eprintln!("\n!!!!!!!! SKIPPED: {message} !!!!!!!!\n");
    None
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer process, killed and reaped when dropped.
pub struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `script` (in this crate's `tests/`) on a free port, with the arguments `args`
/// gives for that port, and waits until it prints `ready` and the port accepts connections.
/// Another test may take the same free port first: then the peer fails to start and it is
/// tried again on another port, three times in all.
pub fn start_peer(python: &Path, script: &str, args: impl Fn(u16) -> Vec<String>) -> (Peer, u16) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(python)
            .arg(&script)
            .args(args(port))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let peer = Peer(child);
        let mut first_line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first_line);
        if first_line.trim() != "ready" {
            eprintln!(
                "{} did not start on port {port}; trying another",
                script.display()
            );
            continue;
        }
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{} does not listen on {port}",
                script.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        return (peer, port);
    }
    panic!("{} did not start", script.display());
}

/// Waits up to 10 s for `path` to exist.
pub fn wait_for_file(path: &Path) -> bool {
    let started = Instant::now();
    while !path.exists() {
        if started.elapsed() > Duration::from_secs(10) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}
