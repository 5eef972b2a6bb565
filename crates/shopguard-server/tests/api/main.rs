//! HTTP API tests: one binary, one module per resource. Each test runs a real server on a
//! loopback port with its own data folder and talks to it over HTTP.

mod alerts;
mod audit;
mod auth;
mod contract;
mod directory;
mod events;
mod hygiene;
mod incidents;
mod lists;
mod openapi;
mod operators;
mod ops;
mod policy;
mod privacy;
mod restart;
mod tasks;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use shopguard_server::{AppState, ServerConfig};
use shopguard_storage::{api_keys, Scope};

pub const SHIPPED_POLICY: &str = include_str!("../../../../examples/marketplace.toml");

/// A running server for one test.
pub struct TestApp {
    pub base: String,
    pub admin_key: String,
    pub state: AppState,
    pub folder: std::path::PathBuf,
    _temp: Option<tempfile::TempDir>,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let temp = tempfile::tempdir().unwrap();
        let folder = temp.path().to_owned();
        let mut app = Self::spawn_in(folder, adjust).await;
        app._temp = Some(temp);
        app
    }

    /// Starts a server on an existing data folder (for restart tests).
    pub async fn spawn_in(
        folder: std::path::PathBuf,
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> TestApp {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: folder.clone(),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let started =
            tokio::task::spawn_blocking(move || shopguard_server::start(config, SHIPPED_POLICY))
                .await
                .unwrap()
                .unwrap();
        let admin_key =
            std::fs::read_to_string(shopguard_server::state::bootstrap_key_path(&folder))
                .unwrap()
                .trim()
                .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let state = started.state.clone();
        let server = tokio::spawn(async move {
            shopguard_server::serve(state, listener, async move {
                let _ = stop.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            admin_key,
            state: started.state,
            folder,
            _temp: None,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully (drains the log, writes the snapshot).
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
        self._temp.take()
    }

    /// Makes a key with these scopes.
    pub fn key(&self, scopes: &[Scope]) -> String {
        let key = api_keys::generate("test", scopes.to_vec(), 0);
        self.state
            .app
            .store()
            .insert_api_key(&key.record, &fixture_audit("key.create"))
            .unwrap();
        self.state.app.audit.drain().unwrap();
        key.token
    }

    /// Sends a request with a raw body.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let (status, _, value) = self
            .raw_with_headers(method, path, key, &[("content-type", content_type)], body)
            .await;
        (status, value)
    }

    /// Sends a request with these headers and a raw body; answers the headers too.
    pub async fn raw_with_headers(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, hyper::HeaderMap, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, value)
    }

    /// Sends a request without a body and with this `Authorization` header.
    pub async fn with_authorization(
        &self,
        method: Method,
        path: &str,
        authorization: &str,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", authorization)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// Sends JSON with the admin key.
    pub async fn admin(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.raw(
            method,
            path,
            Some(&self.admin_key.clone()),
            "application/json",
            bytes,
        )
        .await
    }

    /// Puts a policy with the admin key and, when it waits for approval, approves it with
    /// another key that holds `policy:approve`. Returns the status and answer of the PUT,
    /// with the status 200 once approved.
    pub async fn put_policy_approved(&self, source: &str) -> (StatusCode, Value) {
        let (status, answer) = self
            .raw(
                Method::PUT,
                "/v1/policy?comment=test",
                Some(&self.admin_key.clone()),
                "application/toml",
                source.as_bytes().to_vec(),
            )
            .await;
        if status != StatusCode::ACCEPTED {
            return (status, answer);
        }
        let approver = self.key(&[Scope::PolicyApprove]);
        let (approved, body) = self
            .raw(
                Method::POST,
                &format!("/v1/policy/versions/{}/approve", answer["version"]),
                Some(&approver),
                "application/json",
                Vec::new(),
            )
            .await;
        assert_eq!(approved, StatusCode::OK, "{body}");
        (approved, answer)
    }

    /// Posts one event with the admin key.
    pub async fn event(&self, event: Value) -> (StatusCode, Value) {
        self.admin(Method::POST, "/v1/events", event).await
    }

    /// Waits until every decision so far is in the log.
    pub async fn flush(&self) {
        let log = self.state.app.decisions().unwrap().log().clone();
        tokio::task::spawn_blocking(move || log.flush().unwrap())
            .await
            .unwrap();
    }
}

/// An audit entry for fixtures a test writes straight into storage, dated now (an entry
/// dated in 1970 is past every retention, and the node's first retention run purges it).
pub fn fixture_audit(action: &str) -> shopguard_storage::NewAuditEntry {
    shopguard_storage::NewAuditEntry {
        at_ms: shopguard_server::state::now_ms(),
        class: shopguard_core::audit::RecordClass::Configuration,
        content: shopguard_core::audit::AuditContent {
            actor: "test".into(),
            action: action.into(),
            object: "fixture".into(),
            detail: serde_json::Value::Null,
        },
    }
}

pub fn failed_login(user: &str, ip: &str) -> Value {
    json!({ "kind": "login_failed", "user_id": user, "ip": ip, "device_id": format!("dev-{user}"), "failure_reason": "bad_password" })
}

pub fn rules_of(decision: &Value) -> Vec<String> {
    decision["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["rule_id"].as_str().unwrap().to_owned())
        .collect()
}
