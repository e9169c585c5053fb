//! Every route's authorization decision, in one table, enforced by one middleware.
//!
//! A route that is missing from [`RULES`] is refused (fail closed), the OpenAPI document
//! carries each operation's rule as `x-steward-min-role`, and the tests walk that document
//! and try every role on every operation. Handlers only make decisions finer than a role
//! (a conversation belongs to its user; four-eyes on approval).
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::error::ApiError;
use super::AppState;
use crate::auth::Role;
use crate::metrics;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// A bearer token whose role is at least this.
    AtLeast(Role),
}

impl Access {
    /// `public` or the role's name, as published in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::AtLeast(r) => r.as_str(),
        }
    }
}

use Access::{AtLeast, Public};
use Role::{Admin, Approver, Operator, Viewer};

/// The rule of every route: (method, path as routed, access).
pub const RULES: &[(&str, &str, Access)] = &[
    // Open: liveness, scraping, the API description and how to get a token.
    ("GET", "/healthz", Public),
    ("GET", "/metrics", Public),
    // Slack and Telegram: each request carries its proof (a signature, a secret token), which
    // the integrations check before anything else.
    ("POST", "/integrations/slack/events", Public),
    ("POST", "/integrations/slack/commands", Public),
    ("POST", "/integrations/slack/interactions", Public),
    ("POST", "/integrations/telegram/webhook", Public),
    ("GET", "/", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/openapi-ui.json", Public),
    ("GET", "/docs", Public),
    ("GET", "/docs/", Public),
    ("GET", "/docs/{*rest}", Public),
    ("POST", "/api/v1/auth/login", Public),
    // Anyone signed in.
    ("POST", "/api/v1/auth/logout", AtLeast(Viewer)),
    ("GET", "/api/v1/auth/me", AtLeast(Viewer)),
    ("GET", "/api/v1/clusters", AtLeast(Viewer)),
    ("GET", "/api/v1/clusters/{id}", AtLeast(Viewer)),
    ("GET", "/api/v1/hosts", AtLeast(Viewer)),
    ("GET", "/api/v1/hosts/{id}", AtLeast(Viewer)),
    ("GET", "/api/v1/stacks", AtLeast(Viewer)),
    ("GET", "/api/v1/stacks/docs/{*path}", AtLeast(Viewer)),
    ("GET", "/api/v1/jobs", AtLeast(Viewer)),
    ("GET", "/api/v1/jobs/{id}", AtLeast(Viewer)),
    ("GET", "/api/v1/events", AtLeast(Viewer)),
    ("GET", "/api/v1/knowledge/status", AtLeast(Viewer)),
    ("GET", "/api/v1/hosts/{id}/metrics", AtLeast(Viewer)),
    ("GET", "/api/v1/hosts/{id}/metrics/series", AtLeast(Viewer)),
    ("GET", "/api/v1/incidents", AtLeast(Viewer)),
    ("GET", "/api/v1/incidents/{id}", AtLeast(Viewer)),
    // Links the caller's own chat account; the bot still acts only within their role.
    ("POST", "/api/v1/chat-identities/link-code", AtLeast(Viewer)),
    // Not public like /metrics: it names hosts, mounts and processes. Prometheus scrapes it
    // with a viewer's API token (`authorization: credentials`).
    ("GET", "/metrics/hosts", AtLeast(Viewer)),
    // Operators: chat, propose, read logs.
    ("POST", "/api/v1/jobs", AtLeast(Operator)),
    ("GET", "/api/v1/jobs/{id}/tasks/{task_id}/logs", AtLeast(Operator)),
    ("POST", "/api/v1/jobs/{id}/summary", AtLeast(Operator)),
    // Search quotes job logs, which only operators may read.
    ("GET", "/api/v1/knowledge/search", AtLeast(Operator)),
    ("GET", "/api/v1/chat/conversations", AtLeast(Operator)),
    ("POST", "/api/v1/chat/conversations", AtLeast(Operator)),
    ("GET", "/api/v1/chat/conversations/{id}/messages", AtLeast(Operator)),
    ("POST", "/api/v1/chat/conversations/{id}/messages", AtLeast(Operator)),
    // Approvers: decisions.
    ("POST", "/api/v1/jobs/{id}/approve", AtLeast(Approver)),
    ("POST", "/api/v1/jobs/{id}/reject", AtLeast(Approver)),
    ("POST", "/api/v1/jobs/{id}/cancel", AtLeast(Approver)),
    // Admins: people, tokens, clusters, agents, the audit log.
    ("POST", "/api/v1/clusters", AtLeast(Admin)),
    ("DELETE", "/api/v1/clusters/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/users", AtLeast(Admin)),
    ("POST", "/api/v1/users", AtLeast(Admin)),
    ("PATCH", "/api/v1/users/{id}", AtLeast(Admin)),
    ("DELETE", "/api/v1/users/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/tokens", AtLeast(Admin)),
    ("POST", "/api/v1/tokens", AtLeast(Admin)),
    ("DELETE", "/api/v1/tokens/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/chat-identities", AtLeast(Admin)),
    ("POST", "/api/v1/chat-identities", AtLeast(Admin)),
    ("DELETE", "/api/v1/chat-identities/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/enrollments", AtLeast(Admin)),
    ("POST", "/api/v1/enrollments", AtLeast(Admin)),
    ("DELETE", "/api/v1/enrollments/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/agent-credentials", AtLeast(Admin)),
    ("DELETE", "/api/v1/agent-credentials/{id}", AtLeast(Admin)),
    ("GET", "/api/v1/audit", AtLeast(Admin)),
    ("GET", "/api/v1/audit/verify", AtLeast(Admin)),
];

/// The rule for `method` on the routed `path`.
pub fn rule(method: &Method, path: &str) -> Option<Access> {
    // HEAD is served by GET routes and needs what GET needs.
    let method = if method == Method::HEAD { "GET" } else { method.as_str() };
    RULES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, a)| *a)
}

fn refuse(e: ApiError) -> Response {
    metrics::API_REFUSED.with_label_values(&[e.status().as_str()]).inc();
    e.into_response()
}

/// Authenticates the bearer token and checks the route's rule before the handler runs.
pub async fn authorize(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        // Not routed: the fallback answers 404 and reveals nothing.
        return next.run(req).await;
    };
    let min = match rule(req.method(), &path) {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::AtLeast(r)) => r,
        None => {
            tracing::error!(method = %req.method(), path, "a route has no access rule; refusing it");
            return refuse(ApiError::forbidden("this route has no access rule"));
        }
    };
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .map(str::to_owned);
    let Some(token) = token else {
        return refuse(ApiError::unauthenticated(
            "this needs a bearer token: log in with POST /api/v1/auth/login (or `steward login`)",
        ));
    };
    let who = match s.auth.authenticate(&token).await {
        Ok(w) => w,
        Err(e) => return refuse(e.into()),
    };
    if who.role < min {
        return refuse(ApiError::forbidden(format!(
            "this needs the {} role or higher; {} is {}",
            min.as_str(),
            who.name,
            who.role.as_str()
        )));
    }
    req.extensions_mut().insert::<Caller>(who);
    next.run(req).await
}

/// Adds each operation's rule to the OpenAPI document as `x-steward-min-role`, with the
/// bearer security scheme on every operation that needs a token.
pub fn annotate(doc: &mut serde_json::Value) {
    use serde_json::json;
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in paths.iter_mut() {
            let Some(ops) = item.as_object_mut() else { continue };
            for (method, op) in ops.iter_mut() {
                let Ok(m) = method.to_ascii_uppercase().parse::<Method>() else {
                    continue;
                };
                let Some(op) = op.as_object_mut() else { continue };
                // A route missing from RULES is published as such, so the tests catch it.
                let access = rule(&m, path);
                op.insert(
                    "x-steward-min-role".into(),
                    json!(access.map_or("undeclared", Access::as_str)),
                );
                if matches!(access, Some(Access::AtLeast(_))) {
                    op.insert("security".into(), json!([{"bearer": []}]));
                }
            }
        }
    }
    doc["components"]["securitySchemes"]["bearer"] = json!({"type": "http", "scheme": "bearer"});
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_unique_and_head_follows_get() {
        for (i, (m, p, _)) in RULES.iter().enumerate() {
            assert!(
                !RULES[i + 1..].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} has two rules"
            );
        }
        assert_eq!(rule(&Method::HEAD, "/api/v1/jobs"), Some(AtLeast(Viewer)));
        assert_eq!(rule(&Method::PUT, "/api/v1/jobs"), None);
    }
}
