//! A small HTTP client for the CLI's calls to a running server (plain HTTP: put TLS in a
//! reverse proxy in front of shopguard).

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Where the server is and which key to use.
#[derive(Clone, Debug, clap::Args)]
pub struct ServerArgs {
    /// Base URL of the shopguard server.
    #[arg(
        long,
        env = "SHOPGUARD_SERVER",
        default_value = "http://127.0.0.1:8686"
    )]
    pub server: String,
    /// API key (`sg_...`); the bootstrap admin key is in `<data folder>/admin-api-key`.
    #[arg(long, env = "SHOPGUARD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// A client bound to one server and key.
pub struct ApiClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    api_key: Option<String>,
}

impl ApiClient {
    /// A client for `args`.
    pub fn new(args: &ServerArgs) -> Result<ApiClient> {
        if !args.server.starts_with("http://") {
            bail!(
                "--server must be an http:// URL (terminate TLS in a proxy in front of shopguard)"
            );
        }
        Ok(ApiClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: args.server.trim_end_matches('/').to_owned(),
            api_key: args.api_key.clone(),
        })
    }

    /// Sends a request; returns the status and body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", content_type);
        if let Some(key) = &self.api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::from(body)))?)
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends a request and fails with the server's message unless it succeeded.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Bytes> {
        let (status, body) = self.send(method, path, content_type, body).await?;
        if status == StatusCode::UNAUTHORIZED {
            match &self.api_key {
                None => bail!(
                    "{} wants an API key: pass --api-key sg_... or set SHOPGUARD_API_KEY \
                     (a node's first start writes an admin key to <data folder>/admin-api-key)",
                    self.base
                ),
                Some(_) => bail!(
                    "{} refused the API key (mistyped, revoked, or made for another node's \
                     database?): check --api-key or SHOPGUARD_API_KEY",
                    self.base
                ),
            }
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<shopguard_api_types::ApiError>(&body)
                .map(|error| error.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!("{status}: {message}");
        }
        Ok(body)
    }
}
