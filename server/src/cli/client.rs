//! A small REST client that turns API errors into readable messages.
use anyhow::{anyhow, Context};
use reqwest::StatusCode;
use serde_json::Value;

/// The API client the CLI uses.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str, token: Option<String>) -> Self {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token,
        }
    }

    /// Trusts only the CA in the PEM file `ca` (when given) for an `https://` server, instead
    /// of the web's public roots: how a private Steward CA is pinned.
    pub fn trusting(mut self, ca: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let Some(ca) = ca else { return Ok(self) };
        let pem = std::fs::read(ca).with_context(|| format!("cannot read the CA certificate {}", ca.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .ok()
            .filter(|certs| !certs.is_empty())
            .ok_or_else(|| anyhow!("{} holds no PEM CA certificate", ca.display()))?;
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
        self.http = builder.build().context("cannot set up the HTTPS client")?;
        Ok(self)
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// The raw request builder, for streaming.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.req(method, path)
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let resp = r.send().await.with_context(|| {
            format!(
                "cannot reach the Steward server at {} (is it running? set --server or STEWARD_URL)",
                self.base
            )
        })?;
        check(resp).await
    }

    /// GET a JSON document.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.send(self.req(reqwest::Method::GET, path)).await?.json().await?)
    }

    /// GET text.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.send(self.req(reqwest::Method::GET, path)).await?.text().await?)
    }

    /// DELETE, return JSON (null for an empty 204 answer).
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let body = self.send(self.req(reqwest::Method::DELETE, path)).await?.text().await?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// PATCH JSON, return JSON.
    pub async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self
            .send(self.req(reqwest::Method::PATCH, path).json(body))
            .await?
            .json()
            .await?)
    }

    /// POST JSON, return JSON.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        Ok(self
            .send(self.req(reqwest::Method::POST, path).json(body))
            .await?
            .json()
            .await?)
    }
}

/// Passes successful responses; turns `{"error":{…}}` into an error people can read.
pub async fn check(resp: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let text = resp.text().await.unwrap_or_default();
    let msg = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    Err(match status {
        StatusCode::NOT_FOUND => anyhow!("not found: {msg}"),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => anyhow!("not allowed: {msg}"),
        _ => anyhow!("{msg} (HTTP {})", status.as_u16()),
    })
}
