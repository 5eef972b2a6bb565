//! The README's first steps, run as written: the block under "## First steps" is taken from
//! README.md and run by bash, top to bottom, against a real server started as the README's
//! first command starts it (in a fresh folder, so `data/` is the new node's).
//!
//! Two things differ from a person's terminal, and only these: the server listens on a free
//! port rather than 8686 (tests run side by side), so `127.0.0.1:8686` in the block is
//! rewritten and `SHOPGUARD_SERVER` names the port; and `shopguard` on the PATH is this
//! build's binary (the block's own `export PATH=...target/release...` finds no folder here).
//! The block runs under `set -euo pipefail`, and what each step prints is checked.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../../README.md");

/// The first ```sh block after the "## First steps" heading.
fn first_steps() -> &'static str {
    let section = README
        .split_once("\n## First steps\n")
        .expect("README.md has a '## First steps' section")
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("the first steps hold a ```sh block")
        .1;
    block.split_once("\n```").expect("the block is closed").0
}

mod support;
use support::{free_port, Server};

fn shopguard_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("SHOPGUARD_") {
            command.env_remove(name);
        }
    }
    command
}

fn wait_until_serving(folder: &Path, port: u16, server: &mut Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("the server stopped at start: {status}");
        }
        if folder.join("data/admin-api-key").exists()
            && TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server did not listen on {port} within 60 s");
}

#[test]
fn the_readme_first_steps_run_as_written() {
    let binary = Path::new(env!("CARGO_BIN_EXE_shopguard"));
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let folder = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repository.join("examples"), folder.path().join("examples"))
        .unwrap();
    let port = free_port();
    let address = format!("127.0.0.1:{port}");

    // The README's first command, `shopguard serve`, in the folder the steps run in.
    let log = std::fs::File::create(folder.path().join("server.log")).unwrap();
    let mut server = Server(
        shopguard_env(&mut Command::new(binary))
            .args(["serve", "--listen", &address])
            .current_dir(folder.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_until_serving(folder.path(), port, &mut server);

    let steps = first_steps().replace("127.0.0.1:8686", &address);
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = shopguard_env(&mut Command::new("bash"))
        .args(["-c", &format!("set -euo pipefail\n{steps}")])
        .current_dir(folder.path())
        .env("PATH", path)
        .env("SHOPGUARD_SERVER", format!("http://{address}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!(
        "status {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log\n{}",
        output.status,
        std::fs::read_to_string(folder.path().join("server.log")).unwrap_or_default()
    );
    assert!(output.status.success(), "the first steps failed:\n{report}");
    for expected in [
        "\"outcome\":",                             // an event in, a decision out
        "sg_",                                      // a key printed
        "0 failed",                                 // the changed policy's fixtures pass
        "waits for approval by someone else",       // a punitive change waits
        "version 2 approved and live",              // the second person approves
        "stored (UTC)",                             // versions, with a header
        "version 1 is live",                        // the rollback
        "2 entries added to 'ip_block'; 1 refused", // the feed
        "\"token\":\"sgs_",                         // the operator's login
        "1. Li Lei (response leader)",              // the escalation chain
        "press_statement",                          // level II's tasks
        "intact: every entry, the tree and every checkpoint agree",
        "restored backups/today into data-restored",
    ] {
        assert!(
            stdout.contains(expected),
            "the first steps did not print {expected:?}:\n{report}"
        );
    }
    assert!(
        stderr.contains("feed.txt:4: refused \"not-an-address\""),
        "the refused line is named with its number and reason:\n{report}"
    );
}
