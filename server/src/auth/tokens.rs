//! Bearer tokens: login sessions (expiring) and API tokens for tooling (a role, an optional
//! expiry, revocable). Both are looked up by the SHA-256 digest of the presented secret.
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::Serialize;
use serde_json::json;

use super::{check_name, passwords, secrets, Auth, AuthError, Identity, Role};
use crate::audit;
use crate::db::entities::auth_token;
use crate::metrics;

/// A new login session; the token is shown only here.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// The bearer token.
    pub token: String,
    /// Who logged in.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// RFC 3339.
    pub expires_at: String,
}

/// An API token as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Id, for revocation.
    pub id: i64,
    /// `api` or `session`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The principal recorded as actor (`token:<name>` for API tokens).
    pub principal: String,
    /// Role.
    pub role: Role,
    /// The user it belongs to: who created it (or who created the token that did).
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, if it expires.
    pub expires_at: Option<String>,
    /// RFC 3339, if revoked.
    pub revoked_at: Option<String>,
}

/// A token just created: the secret, shown once, and its listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewToken {
    /// The bearer secret. It is not stored and cannot be shown again.
    pub token: String,
    /// The token as listed.
    #[serde(flatten)]
    pub view: TokenView,
}

impl From<auth_token::Model> for TokenView {
    fn from(t: auth_token::Model) -> Self {
        TokenView {
            id: t.id,
            kind: t.kind,
            name: t.name,
            principal: t.username,
            role: Role::parse(&t.role).unwrap_or(Role::Viewer),
            created_by: t.created_by,
            created_at: t.created_at.to_rfc3339(),
            expires_at: t.expires_at.map(|e| e.to_rfc3339()),
            revoked_at: t.revoked_at.map(|e| e.to_rfc3339()),
        }
    }
}

/// A new `auth_tokens` row for a fresh secret (`stw_ses_…` or `stw_api_…`), and the secret.
fn issue(
    kind: &str,
    name: &str,
    principal: &str,
    role: Role,
    created_by: &str,
    expires_at: Option<DateTime<Utc>>,
) -> (auth_token::ActiveModel, String) {
    let secret = secrets::generate(if kind == "session" { "ses" } else { "api" });
    let row = auth_token::ActiveModel {
        kind: Set(kind.to_owned()),
        name: Set(name.to_owned()),
        username: Set(principal.to_owned()),
        role: Set(role.as_str().into()),
        token_hash: Set(secrets::digest(&secret)),
        created_by: Set(created_by.to_owned()),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ..Default::default()
    };
    (row, secret)
}

/// Who stands behind system-initiated requests (telemetry, bots): no person, so no
/// person's own approval can satisfy four-eyes for them.
pub const SYSTEM: &str = "system";

/// The person accountable for `principal`: for an API token (`token:<name>`), the user who
/// created its live incarnation; anyone else is themselves. Four-eyes compares these, so a
/// token cannot approve for its owner, nor its owner for it.
pub async fn owner_of<C: ConnectionTrait>(db: &C, principal: &str) -> Result<String, DbErr> {
    let mut who = principal.to_owned();
    // Tokens made before tokens recorded their owner name the token that made them; follow
    // at most a few such links.
    for _ in 0..4 {
        if !who.starts_with("token:") {
            break;
        }
        let now = Utc::now();
        let live = auth_token::Entity::find()
            .filter(auth_token::Column::Kind.eq("api"))
            .filter(auth_token::Column::Username.eq(&who))
            .filter(auth_token::Column::RevokedAt.is_null())
            .order_by_desc(auth_token::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .find(|t| t.expires_at.is_none_or(|e| e > now));
        match live {
            Some(t) => who = t.created_by,
            None => break,
        }
    }
    Ok(who)
}

impl Auth {
    /// Checks a password and opens a session. Attempts are limited per address, and per
    /// (username, address) after repeated failures; every outcome is audited (never the
    /// password).
    pub async fn login(&self, username: &str, password: &str, addr: IpAddr) -> Result<Session, AuthError> {
        if let Err(l) = self.limits.login_attempt(addr, username) {
            metrics::LOGINS.with_label_values(&["limited"]).inc();
            return Err(l.into());
        }
        let user = if username.len() <= 64 {
            self.find_user(username).await?
        } else {
            None
        };
        let phc = user
            .as_ref()
            .map_or_else(|| passwords::dummy_hash().to_owned(), |u| u.password_hash.clone());
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || passwords::verify(&pw, &phc))
            .await
            .unwrap_or(false);
        let Some(user) = user.filter(|_| ok) else {
            metrics::LOGINS.with_label_values(&["failed"]).inc();
            let locked = self.limits.login_failed(addr, username);
            let shown: String = username.chars().take(64).collect();
            let txn = self.store.begin_write().await?;
            let mut events = vec![(
                shown.clone(),
                "auth.login_failed".to_owned(),
                format!("user:{shown}"),
                json!({"address": addr.to_string(), "locked": locked}),
            )];
            if locked {
                events.push((
                    "steward".to_owned(),
                    "auth.lockout".to_owned(),
                    format!("user:{shown}"),
                    json!({"address": addr.to_string(), "seconds": self.config.lockout_secs}),
                ));
            }
            audit::record_many(&*txn, events).await?;
            txn.commit().await?;
            return Err(AuthError::Unauthenticated("wrong username or password".into()));
        };
        self.limits.login_succeeded(addr, username);
        if user.disabled {
            let txn = self.store.begin_write().await?;
            audit::record(
                &*txn,
                &user.username,
                "auth.login_failed",
                &format!("user:{}", user.username),
                json!({"address": addr.to_string(), "disabled": true}),
            )
            .await?;
            txn.commit().await?;
            return Err(AuthError::Unauthenticated(format!(
                "user {} is disabled; ask an admin to enable it",
                user.username
            )));
        }
        let role = Role::parse(&user.role)?;
        let expires =
            Utc::now() + chrono::Duration::from_std(self.session_ttl()).unwrap_or(chrono::Duration::hours(12));
        let txn = self.store.begin_write().await?;
        let (row, secret) = issue(
            "session",
            &format!("login from {addr}"),
            &user.username,
            role,
            &user.username,
            Some(expires),
        );
        let row = row.insert(&*txn).await?;
        audit::record(
            &*txn,
            &user.username,
            "auth.login",
            &format!("user:{}", user.username),
            json!({"address": addr.to_string(), "session": row.id}),
        )
        .await?;
        txn.commit().await?;
        metrics::LOGINS.with_label_values(&["ok"]).inc();
        Ok(Session {
            token: secret,
            username: user.username,
            role,
            expires_at: expires.to_rfc3339(),
        })
    }

    /// Who `secret` stands for, if it is a live session or API token.
    pub async fn authenticate(&self, secret: &str) -> Result<Identity, AuthError> {
        let refuse = |m: &str| AuthError::Unauthenticated(m.to_owned());
        if !secret.starts_with("stw_") || secret.len() > 200 {
            return Err(refuse("the bearer token is not a Steward token"));
        }
        let t = auth_token::Entity::find()
            .filter(auth_token::Column::TokenHash.eq(secrets::digest(secret)))
            .one(self.store.read())
            .await?
            .ok_or_else(|| refuse("the bearer token is unknown"))?;
        self.identity_of(t).await
    }

    /// Whether `who` still stands as it did when its stream opened: its token live and
    /// unexpired, its user still there with the same role. Open streams ask this to end
    /// themselves after a logout, a revocation, a disabled user or a role change.
    pub async fn still_valid(&self, who: &Identity) -> Result<bool, AuthError> {
        let Some(t) = auth_token::Entity::find_by_id(who.token_id)
            .one(self.store.read())
            .await?
        else {
            return Ok(false);
        };
        match self.identity_of(t).await {
            Ok(now) => Ok(now.name == who.name && now.role == who.role),
            Err(AuthError::Unauthenticated(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The identity a stored token stands for, if it is live.
    async fn identity_of(&self, t: auth_token::Model) -> Result<Identity, AuthError> {
        let refuse = |m: &str| AuthError::Unauthenticated(m.to_owned());
        if t.revoked_at.is_some() {
            return Err(refuse("the bearer token was revoked"));
        }
        if t.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(refuse("the bearer token has expired; log in again"));
        }
        let role = if t.kind == "session" {
            // A session carries the user's current role: demoting a user takes effect at once.
            let u = self
                .find_user(&t.username)
                .await?
                .ok_or_else(|| refuse("the session's user no longer exists"))?;
            if u.disabled {
                return Err(refuse("the session's user is disabled"));
            }
            Role::parse(&u.role)?
        } else {
            // An API token stops with the user who created it (tokens made by tokens, or by
            // the server itself, have no such user).
            if self.find_user(&t.created_by).await?.is_some_and(|u| u.disabled) {
                return Err(refuse("the API token's creator is disabled"));
            }
            Role::parse(&t.role)?
        };
        Ok(Identity {
            name: t.username,
            role,
            token_id: t.id,
        })
    }

    /// Ends the caller's own session (or revokes the API token used).
    pub async fn logout(&self, who: &Identity) -> Result<(), AuthError> {
        self.revoke_token(&who.name, who.token_id).await.map(|_| ())
    }

    /// Audits `token.expired` once for every session and API token whose expiry passed, and
    /// keeps doing so every few seconds until `stop` turns true. Where the last sweep ended
    /// is read back from the audit log, so a restart neither repeats nor skips one.
    pub async fn run_expiry(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut since = match self.last_expiry_audited().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the last token expiry audited");
                Utc::now()
            }
        };
        loop {
            match self.audit_expired(since).await {
                Ok(t) => since = t,
                Err(e) => tracing::warn!(error = %e, "cannot audit expired tokens"),
            }
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
        }
    }

    async fn last_expiry_audited(&self) -> Result<DateTime<Utc>, AuthError> {
        let f = audit::Filter {
            action: Some("token.expired".into()),
            limit: Some(1),
            ..Default::default()
        };
        let last = audit::list(self.store.read(), &f).await?;
        Ok(last
            .first()
            .and_then(|e| e.details["expires_at"].as_str())
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc)))
    }

    /// Audits the tokens that expired after `since`; returns the latest expiry audited.
    async fn audit_expired(&self, since: DateTime<Utc>) -> Result<DateTime<Utc>, AuthError> {
        let now = Utc::now();
        let expired = auth_token::Entity::find()
            .filter(auth_token::Column::ExpiresAt.gt(since))
            .filter(auth_token::Column::ExpiresAt.lte(now))
            .filter(auth_token::Column::RevokedAt.is_null())
            .order_by_asc(auth_token::Column::ExpiresAt)
            .all(self.store.read())
            .await?;
        let Some(latest) = expired.last().and_then(|t| t.expires_at) else {
            return Ok(since);
        };
        let events = expired
            .iter()
            .map(|t| {
                (
                    "steward".to_owned(),
                    "token.expired".to_owned(),
                    format!("token:{}", t.id),
                    json!({"kind": t.kind, "name": t.name, "principal": t.username,
                        "expires_at": t.expires_at.map(|e| e.to_rfc3339())}),
                )
            })
            .collect();
        let txn = self.store.begin_write().await?;
        audit::record_many(&*txn, events).await?;
        txn.commit().await?;
        Ok(latest)
    }

    /// Creates an API token for tooling; the secret is returned once.
    pub async fn create_token(
        &self,
        actor: &str,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<NewToken, AuthError> {
        check_name("token name", name)?;
        if expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(AuthError::Invalid("expires_at is in the past".into()));
        }
        let principal = format!("token:{name}");
        let txn = self.store.begin_write().await?;
        let clash = auth_token::Entity::find()
            .filter(auth_token::Column::Kind.eq("api"))
            .filter(auth_token::Column::Username.eq(&principal))
            .filter(auth_token::Column::RevokedAt.is_null())
            .all(&*txn)
            .await?
            .into_iter()
            .any(|t| t.expires_at.is_none_or(|e| e > Utc::now()));
        if clash {
            return Err(AuthError::Conflict(format!(
                "a live API token named {name:?} exists; revoke it first"
            )));
        }
        // A token belongs to the person who made it, even when another token made it.
        let owner = owner_of(&*txn, actor).await?;
        let (row, secret) = issue("api", name, &principal, role, &owner, expires_at);
        let row = row.insert(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "token.created",
            &format!("token:{}", row.id),
            json!({"name": name, "role": role.as_str(), "expires_at": expires_at.map(|e| e.to_rfc3339())}),
        )
        .await?;
        txn.commit().await?;
        Ok(NewToken {
            token: secret,
            view: row.into(),
        })
    }

    /// API tokens, newest first (sessions are not listed).
    pub async fn list_tokens(&self) -> Result<Vec<TokenView>, AuthError> {
        Ok(auth_token::Entity::find()
            .filter(auth_token::Column::Kind.eq("api"))
            .order_by_desc(auth_token::Column::Id)
            .all(self.store.read())
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect())
    }

    /// Revokes token `id` (an API token or a session); it stops working at once.
    pub async fn revoke_token(&self, actor: &str, id: i64) -> Result<TokenView, AuthError> {
        let txn = self.store.begin_write().await?;
        let t = auth_token::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("token {id} not found")))?;
        if t.revoked_at.is_some() {
            return Err(AuthError::Conflict(format!("token {id} is already revoked")));
        }
        let mut am: auth_token::ActiveModel = t.into();
        am.revoked_at = Set(Some(Utc::now()));
        let t = am.update(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "token.revoked",
            &format!("token:{id}"),
            json!({"kind": t.kind, "name": t.name}),
        )
        .await?;
        txn.commit().await?;
        Ok(t.into())
    }
}
