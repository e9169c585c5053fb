//! The client: where the server is, who is asking, which CA to trust, and how to retry.
use std::path::Path;

use rand::Rng;

use crate::endpoint::{Answer, Endpoint, Operation};
use crate::retry::Decide;
use crate::retry::{idempotent, Outcome};
use crate::{Error, RetryPolicy};

/// A client of one Steward server. Cheap to clone: clones share connections.
///
/// ```no_run
/// use steward_client::Client;
///
/// # async fn example() -> Result<(), steward_client::Error> {
/// let client = Client::builder("http://127.0.0.1:8080")
///     .token(std::env::var("STEWARD_TOKEN").ok())
///     .build()?;
/// for host in client.list_hosts().await? {
///     println!("{} {}", host.host_view.hostname, host.host_view.state);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
    retry: RetryPolicy,
}

/// Sets up a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base: String,
    token: Option<String>,
    ca_pem: Option<(Vec<u8>, String)>,
    ca_error: Option<String>,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// The bearer token (a session from `login`, or an API token) sent with every request.
    pub fn token(mut self, token: impl Into<Option<String>>) -> Self {
        self.token = token.into();
        self
    }

    /// Trusts only the CA certificates in `pem` for an `https://` server, instead of the
    /// web's public roots: how a private Steward CA is pinned.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pem = Some((pem.into(), "the CA PEM".into()));
        self
    }

    /// [`ClientBuilder::ca_pem`] from a file; `None` keeps the public roots.
    pub fn ca_file(mut self, path: Option<&Path>) -> Self {
        if let Some(path) = path {
            match std::fs::read(path) {
                Ok(pem) => self.ca_pem = Some((pem, path.display().to_string())),
                Err(e) => {
                    self.ca_error = Some(format!("cannot read the CA certificate {}: {e}", path.display()));
                }
            }
        }
        self
    }

    /// How to retry (the default: 3 attempts, see [`RetryPolicy`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The client.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.ca_error {
            return Err(Error::Config(e));
        }
        let http = match self.ca_pem {
            None => reqwest::Client::new(),
            Some((pem, what)) => {
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .ok()
                    .filter(|certs| !certs.is_empty())
                    .ok_or_else(|| Error::Config(format!("{what} holds no PEM CA certificate")))?;
                let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
                builder
                    .build()
                    .map_err(|e| Error::Config(format!("cannot set up the HTTPS client: {e}")))?
            }
        };
        Ok(Client {
            base: self.base.trim_end_matches('/').to_owned(),
            http,
            token: self.token,
            retry: self.retry,
        })
    }
}

impl Client {
    /// A builder for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn builder(base: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base: base.into(),
            token: None,
            ca_pem: None,
            ca_error: None,
            retry: RetryPolicy::default(),
        }
    }

    /// A client for `base` with `token`, the public web roots and the default retries.
    pub fn new(base: impl Into<String>, token: Option<String>) -> Self {
        Client {
            base: base.into().trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            token,
            retry: RetryPolicy::default(),
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// This client with another bearer token (same connections).
    pub fn with_token(&self, token: impl Into<Option<String>>) -> Self {
        Client {
            token: token.into(),
            ..self.clone()
        }
    }

    /// Sends `op` and decodes its answer.
    ///
    /// ```no_run
    /// use steward_client::operations::{ListJobs, ListJobsQuery};
    ///
    /// # async fn example(client: steward_client::Client) -> Result<(), steward_client::Error> {
    /// let query = ListJobsQuery { state: Some("RUNNING".into()), ..Default::default() };
    /// let running = client.call(&ListJobs { query: &query }).await?;
    /// # let _ = running;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        let value = self.call_json(op).await?;
        serde_json::from_value(value).map_err(|source| Error::Decode {
            what: format!("{} {}", O::METHOD, op.path()),
            source,
        })
    }

    /// Sends `op` and returns its answer as the server wrote it: JSON as parsed (keys in the
    /// server's order when serde_json's `preserve_order` is on), text as a string, nothing as
    /// null. For printing an answer exactly; [`Client::call`] for using it.
    pub async fn call_json<O: Operation>(&self, op: &O) -> Result<serde_json::Value, Error> {
        let resp = self.send(op, "application/json").await?;
        let what = || format!("{} {}", O::METHOD, op.path());
        match O::ANSWER {
            Answer::Empty => Ok(serde_json::Value::Null),
            Answer::Text => Ok(serde_json::Value::String(resp.text().await.map_err(Error::Transport)?)),
            Answer::Json => {
                let bytes = resp.bytes().await.map_err(Error::Transport)?;
                serde_json::from_slice(&bytes).map_err(|source| Error::Decode { what: what(), source })
            }
        }
    }

    /// Sends `ep` (retrying as the policy allows) and returns the successful response.
    pub(crate) async fn send<E: Endpoint>(&self, ep: &E, accept: &str) -> Result<reqwest::Response, Error> {
        let url = format!("{}{}", self.base, ep.path());
        let query = ep.query();
        let body = ep.body().map_err(|source| Error::Decode {
            what: format!("the body of {} {}", E::METHOD, ep.path()),
            source,
        })?;
        let idempotent = idempotent(&E::METHOD);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .http
                .request(E::METHOD, &url)
                .header(reqwest::header::ACCEPT, accept);
            if !query.is_empty() {
                req = req.query(&query);
            }
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            if let Some(body) = &body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let (outcome, error) = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let text = resp.text().await.unwrap_or_default();
                    let error = Error::from_response(status, &text, retry_after.as_deref());
                    let outcome = Outcome::Status {
                        status,
                        retry_after: error.retry_after(),
                    };
                    (outcome, error)
                }
                Err(e) if e.is_connect() => (
                    Outcome::Connect,
                    Error::Connect {
                        base: self.base.clone(),
                        source: e,
                    },
                ),
                Err(e) => (Outcome::Transport, Error::Transport(e)),
            };
            let jitter = rand::thread_rng().gen::<f64>();
            match self.retry.next(idempotent, attempt, outcome, jitter) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(error),
            }
        }
    }
}
