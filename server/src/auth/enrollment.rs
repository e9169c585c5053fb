//! Agent enrollment: an admin creates a one-time token (optionally bound to a hostname and a
//! cluster, always expiring); the agent exchanges it once for a per-host credential, which
//! it keeps on the host and presents on every connection. Credentials are revocable, and a
//! revocation closes the host's live session.
use std::net::IpAddr;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{secrets, Auth, AuthError};
use crate::audit;
use crate::db::entities::{agent_credential, enrollment, host};
use crate::inventory;

/// Shortest and longest enrollment validity, in seconds.
const MIN_TTL: u64 = 60;
const MAX_TTL: u64 = 30 * 24 * 3600;

/// What an enrollment token is bound to.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollment {
    /// Only this hostname may enroll with it.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The host joins this cluster when it enrolls.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Seconds until it expires (60 … 2592000; the configured default when left out).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// An enrollment token as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnrollmentView {
    /// Id.
    pub id: i64,
    /// Bound hostname.
    pub hostname: Option<String>,
    /// Bound cluster.
    pub cluster: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// RFC 3339.
    pub expires_at: String,
    /// RFC 3339, once used.
    pub used_at: Option<String>,
    /// The host that used it.
    pub used_by: Option<String>,
    /// The one-time secret: present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<enrollment::Model> for EnrollmentView {
    fn from(e: enrollment::Model) -> Self {
        EnrollmentView {
            id: e.id,
            hostname: e.hostname,
            cluster: e.cluster,
            created_by: e.created_by,
            expires_at: e.expires_at.to_rfc3339(),
            used_at: e.used_at.map(|t| t.to_rfc3339()),
            used_by: e.used_by,
            token: None,
        }
    }
}

/// A per-host agent credential as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// Id, for revocation.
    pub id: i64,
    /// The host it belongs to.
    pub hostname: String,
    /// The enrollment that issued it.
    pub enrollment_id: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, if revoked.
    pub revoked_at: Option<String>,
}

impl From<agent_credential::Model> for CredentialView {
    fn from(c: agent_credential::Model) -> Self {
        CredentialView {
            id: c.id,
            hostname: c.hostname,
            enrollment_id: c.enrollment_id,
            created_at: c.created_at.to_rfc3339(),
            revoked_at: c.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// An agent that proved a live credential.
#[derive(Debug, Clone)]
pub struct EnrolledAgent {
    /// The credential's id (revocation closes sessions holding it).
    pub credential_id: i64,
    /// The only hostname it may claim.
    pub hostname: String,
}

/// The enrollment token found for a secret, if `hostname` may use it now.
fn usable<'a>(e: Option<&'a enrollment::Model>, hostname: &str) -> Result<&'a enrollment::Model, AuthError> {
    let refuse = |m: String| AuthError::Unauthenticated(m);
    let e = e.ok_or_else(|| refuse("the enrollment token is unknown".into()))?;
    if let Some(by) = &e.used_by {
        return Err(refuse(format!("the enrollment token was already used (by {by})")));
    }
    if e.expires_at <= Utc::now() {
        return Err(refuse("the enrollment token has expired".into()));
    }
    if e.hostname.as_deref().is_some_and(|h| h != hostname) {
        return Err(refuse(format!("the enrollment token is not for host {hostname}")));
    }
    Ok(e)
}

impl Auth {
    /// Creates a one-time enrollment token; the secret is in the returned view, once.
    pub async fn create_enrollment(&self, actor: &str, req: &NewEnrollment) -> Result<EnrollmentView, AuthError> {
        if let Some(h) = &req.hostname {
            if !inventory::valid_hostname(h) {
                return Err(AuthError::Invalid(format!("hostname {h:?} is not valid")));
            }
        }
        let ttl = req.expires_in.unwrap_or(self.config.enrollment_ttl_secs);
        if !(MIN_TTL..=MAX_TTL).contains(&ttl) {
            return Err(AuthError::Invalid(format!(
                "expires_in must be {MIN_TTL}..={MAX_TTL} seconds"
            )));
        }
        if let Some(c) = &req.cluster {
            inventory::cluster_view(self.store.read(), c, None)
                .await
                .map_err(|e| AuthError::Invalid(e.to_string()))?;
        }
        let secret = secrets::generate("enr");
        let now = Utc::now();
        let txn = self.store.begin_write().await?;
        let new = enrollment::ActiveModel {
            token_hash: Set(secrets::digest(&secret)),
            hostname: Set(req.hostname.clone()),
            cluster: Set(req.cluster.clone()),
            created_by: Set(actor.to_owned()),
            created_at: Set(now),
            expires_at: Set(now + chrono::Duration::seconds(ttl as i64)),
            used_at: Set(None),
            used_by: Set(None),
            ..Default::default()
        };
        let row = new.insert(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "enrollment.created",
            &format!("enrollment:{}", row.id),
            json!({"hostname": req.hostname, "cluster": req.cluster, "expires_at": row.expires_at.to_rfc3339()}),
        )
        .await?;
        txn.commit().await?;
        let mut view = EnrollmentView::from(row);
        view.token = Some(secret);
        Ok(view)
    }

    /// Enrollment tokens, newest first.
    pub async fn list_enrollments(&self) -> Result<Vec<EnrollmentView>, AuthError> {
        self.views(enrollment::Entity::find().order_by_desc(enrollment::Column::Id))
            .await
    }

    /// The rows `query` selects, as views.
    pub(super) async fn views<E, V>(&self, query: sea_orm::Select<E>) -> Result<Vec<V>, AuthError>
    where
        E: EntityTrait,
        V: From<E::Model>,
    {
        Ok(query.all(self.store.read()).await?.into_iter().map(V::from).collect())
    }

    /// Revokes enrollment token `id` before any agent used it: it is deleted, so it can never
    /// enroll. A used one is refused (409): revoke the credential it issued instead.
    pub async fn revoke_enrollment(&self, actor: &str, id: i64) -> Result<(), AuthError> {
        let txn = self.store.begin_write().await?;
        let e = enrollment::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("enrollment {id} not found")))?;
        if let Some(by) = &e.used_by {
            return Err(AuthError::Conflict(format!(
                "enrollment {id} was already used by host {by}; revoke that host's agent credential instead"
            )));
        }
        // Deleted only while unused: `enroll` marks it used inside its own write transaction.
        let deleted = enrollment::Entity::delete_many()
            .filter(enrollment::Column::Id.eq(id))
            .filter(enrollment::Column::UsedAt.is_null())
            .exec(&*txn)
            .await?
            .rows_affected;
        if deleted == 0 {
            return Err(AuthError::Conflict(format!("enrollment {id} was just used")));
        }
        audit::record(
            &*txn,
            actor,
            "enrollment.revoked",
            &format!("enrollment:{id}"),
            json!({"hostname": e.hostname, "cluster": e.cluster, "created_by": e.created_by}),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Exchanges an enrollment token for `hostname`'s credential, once. A token not bound to a
    /// hostname only enrolls a host the server does not know yet; re-enrolling a known host
    /// needs a token bound to it, revokes its older credentials (one host, one credential) and
    /// is audited as `agent.replaced`.
    pub async fn enroll(&self, secret: &str, hostname: &str, addr: IpAddr) -> Result<String, AuthError> {
        self.limits.enroll_attempt(addr)?;
        if !inventory::valid_hostname(hostname) {
            return Err(AuthError::Invalid("the hostname is not valid".into()));
        }
        if !secret.starts_with("stw_enr_") || secret.len() > 200 {
            return Err(AuthError::Unauthenticated("not an enrollment token".into()));
        }
        // Checked first on a plain read: a stream of bad tokens costs reads, and never holds
        // the writer lock every other write waits for.
        let found = enrollment::Entity::find()
            .filter(enrollment::Column::TokenHash.eq(secrets::digest(secret)))
            .one(self.store.read())
            .await?;
        usable(found.as_ref(), hostname)?;
        let txn = self.store.begin_write().await?;
        // Again under the lock: another enrollment may have spent it meanwhile.
        let e = enrollment::Entity::find()
            .filter(enrollment::Column::TokenHash.eq(secrets::digest(secret)))
            .one(&*txn)
            .await?;
        let e = usable(e.as_ref(), hostname)?.clone();
        // An unbound token only creates hosts: taking over a host that is registered (declared
        // in a cluster, seen, or enrolled before) would hand its identity and its work to
        // whoever holds any token. Re-enrolling needs a token the admin bound to the host.
        let known = host::Entity::find()
            .filter(host::Column::Hostname.eq(hostname))
            .one(&*txn)
            .await?
            .is_some();
        let enrolled_before = agent_credential::Entity::find()
            .filter(agent_credential::Column::Hostname.eq(hostname))
            .one(&*txn)
            .await?
            .is_some();
        if e.hostname.is_none() && (known || enrolled_before) {
            return Err(AuthError::Forbidden(format!(
                "host {hostname} is already registered; re-enrolling it needs an enrollment token bound to that hostname"
            )));
        }
        if let Some(c) = &e.cluster {
            inventory::join_cluster(&*txn, hostname, c)
                .await
                .map_err(|err| AuthError::Conflict(err.to_string()))?;
        }
        let now = Utc::now();
        let older = agent_credential::Entity::find()
            .filter(agent_credential::Column::Hostname.eq(hostname))
            .filter(agent_credential::Column::RevokedAt.is_null())
            .all(&*txn)
            .await?;
        for c in &older {
            let mut am: agent_credential::ActiveModel = c.clone().into();
            am.revoked_at = Set(Some(now));
            am.update(&*txn).await?;
        }
        let credential = secrets::generate("agt");
        let row = agent_credential::ActiveModel {
            hostname: Set(hostname.to_owned()),
            token_hash: Set(secrets::digest(&credential)),
            enrollment_id: Set(e.id),
            created_at: Set(now),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        let mut am: enrollment::ActiveModel = e.clone().into();
        am.used_at = Set(Some(now));
        am.used_by = Set(Some(hostname.to_owned()));
        am.update(&*txn).await?;
        // A host enrolled before gets a new identity: say so, naming what it replaced.
        let action = if enrolled_before {
            "agent.replaced"
        } else {
            "agent.enrolled"
        };
        audit::record(
            &*txn,
            &format!("agent:{hostname}"),
            action,
            &format!("host:{hostname}"),
            json!({"enrollment": e.id, "enrollment_created_by": e.created_by, "credential": row.id, "cluster": e.cluster, "replaced": older.iter().map(|c| c.id).collect::<Vec<_>>()}),
        )
        .await?;
        txn.commit().await?;
        for c in older {
            let _ = self.revoked.send(c.id);
        }
        Ok(credential)
    }

    /// The agent a credential stands for, if it is live.
    pub async fn verify_agent(&self, secret: &str) -> Result<EnrolledAgent, AuthError> {
        let refuse = |m: &str| AuthError::Unauthenticated(m.to_owned());
        if !secret.starts_with("stw_agt_") || secret.len() > 200 {
            return Err(refuse("not an agent credential"));
        }
        let c = agent_credential::Entity::find()
            .filter(agent_credential::Column::TokenHash.eq(secrets::digest(secret)))
            .one(self.store.read())
            .await?
            .ok_or_else(|| refuse("unknown agent credential"))?;
        if c.revoked_at.is_some() {
            return Err(refuse("the agent credential was revoked"));
        }
        Ok(EnrolledAgent {
            credential_id: c.id,
            hostname: c.hostname,
        })
    }

    /// Whether credential `id` exists and is not revoked.
    pub async fn credential_live(&self, id: i64) -> Result<bool, AuthError> {
        Ok(agent_credential::Entity::find_by_id(id)
            .one(self.store.read())
            .await?
            .is_some_and(|c| c.revoked_at.is_none()))
    }

    /// Agent credentials, newest first.
    pub async fn list_credentials(&self) -> Result<Vec<CredentialView>, AuthError> {
        self.views(agent_credential::Entity::find().order_by_desc(agent_credential::Column::Id))
            .await
    }

    /// Revokes credential `id`; the host's live session, if any, is closed.
    pub async fn revoke_credential(&self, actor: &str, id: i64) -> Result<CredentialView, AuthError> {
        let txn = self.store.begin_write().await?;
        let c = agent_credential::Entity::find_by_id(id)
            .one(&*txn)
            .await?
            .ok_or_else(|| AuthError::NotFound(format!("agent credential {id} not found")))?;
        if c.revoked_at.is_some() {
            return Err(AuthError::Conflict(format!("agent credential {id} is already revoked")));
        }
        let mut am: agent_credential::ActiveModel = c.into();
        am.revoked_at = Set(Some(Utc::now()));
        let c = am.update(&*txn).await?;
        audit::record(
            &*txn,
            actor,
            "credential.revoked",
            &format!("host:{}", c.hostname),
            json!({"credential": id}),
        )
        .await?;
        txn.commit().await?;
        let _ = self.revoked.send(id);
        Ok(c.into())
    }

    /// Ids of credentials as they are revoked, for sessions to close themselves.
    pub fn revocations(&self) -> tokio::sync::broadcast::Receiver<i64> {
        self.revoked.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::auth::AuthConfig;

    #[tokio::test]
    async fn bad_enrollment_tokens_are_refused_without_waiting_for_the_writer_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::db::connect(&crate::db::sqlite_url(dir.path())).await.unwrap();
        let auth = Auth::new(store.clone(), AuthConfig::default());
        let good = auth
            .create_enrollment("admin", &NewEnrollment::default())
            .await
            .unwrap()
            .token
            .unwrap();
        // Another writer holds the lock for as long as it likes.
        let held = store.begin_write().await.unwrap();
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        for token in ["stw_enr_unknown", "not-a-token", &"x".repeat(10_000)] {
            let r = tokio::time::timeout(Duration::from_secs(2), auth.enroll(token, "h1", addr))
                .await
                .expect("a bad token waited for the writer lock");
            assert!(matches!(r, Err(AuthError::Unauthenticated(_))), "{r:?}");
        }
        // A good one does need the lock, and gets it once the other writer is done.
        let pending = tokio::spawn({
            let auth = auth.clone();
            async move { auth.enroll(&good, "h1", addr).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !pending.is_finished(),
            "a good token was enrolled without the writer lock"
        );
        held.commit().await.unwrap();
        let credential = pending.await.unwrap().unwrap();
        assert!(credential.starts_with("stw_agt_"));
    }
}
