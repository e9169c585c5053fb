//! Identity's settings (`[auth]` in steward.toml), handed to the auth service alone.
use serde::{Deserialize, Serialize};

/// Identity and approval policy.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The first admin's password (`STEWARD_ADMIN_PASSWORD`); generated and printed once when unset.
    pub admin_password: Option<String>,
    /// Seconds a login session lasts.
    pub session_ttl_secs: u64,
    /// Consecutive failed logins that lock a username.
    pub login_max_failures: u32,
    /// Seconds a locked username stays locked.
    pub lockout_secs: u64,
    /// Login attempts one address may make per minute.
    pub login_attempts_per_minute: u32,
    /// Proposals one user may make per minute.
    pub proposals_per_minute: u32,
    /// Chat messages one user may send per minute.
    pub chat_messages_per_minute: u32,
    /// A plan touching more hosts than this needs an approver other than its requester.
    pub four_eyes_hosts: usize,
    /// Whether a requester may approve their own low-risk job.
    pub allow_self_approval: bool,
    /// Seconds an enrollment token is valid when the request gives no expiry.
    pub enrollment_ttl_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            admin_password: None,
            session_ttl_secs: 12 * 3600,
            login_max_failures: 5,
            lockout_secs: 15 * 60,
            login_attempts_per_minute: 30,
            proposals_per_minute: 30,
            chat_messages_per_minute: 20,
            four_eyes_hosts: 10,
            allow_self_approval: true,
            enrollment_ttl_secs: 3600,
        }
    }
}

// By hand, so the admin password never reaches a log through `{:?}`.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("admin_password", &self.admin_password.as_ref().map(|_| "***"))
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("login_max_failures", &self.login_max_failures)
            .field("lockout_secs", &self.lockout_secs)
            .field("four_eyes_hosts", &self.four_eyes_hosts)
            .field("allow_self_approval", &self.allow_self_approval)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// Refuses settings that would weaken what they configure.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(p) = &self.admin_password {
            if p.len() < super::MIN_PASSWORD_LEN {
                return Err(format!(
                    "auth.admin_password (STEWARD_ADMIN_PASSWORD) must be at least {} characters",
                    super::MIN_PASSWORD_LEN
                ));
            }
        }
        Ok(())
    }
}
