//! `steward login`, `logout`, `users`, `tokens`, `enrollments`, `agents`, `audit`.
use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use steward_client::operations::{
    CreateEnrollment, CreateUser, List, ListCredentials, ListEnrollments, ListQuery, ListTokens, ListUsers,
    RevokeCredential, RevokeToken, UpdateUser, Verify,
};
use steward_client::types::{Login, NewEnrollment, NewUser, Role, TokenRequest, UserUpdate};
use steward_client::Client;

use super::{answer, dash, explain, print, session, table, when};

/// Users (admin).
#[derive(Debug, Subcommand)]
pub enum UsersCmd {
    /// List users.
    List,
    /// Add a user; the password comes from STEWARD_PASSWORD, stdin, or a prompt.
    Add {
        /// Login name.
        username: String,
        /// viewer, operator, approver or admin.
        #[arg(long)]
        role: String,
    },
    /// Change a user's role (takes effect on their next request).
    SetRole {
        /// Login name.
        username: String,
        /// viewer, operator, approver or admin.
        role: String,
    },
    /// Disable a user: they cannot log in, and their sessions and API tokens stop working.
    Disable {
        /// Login name.
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// Login name.
        username: String,
    },
    /// Delete a user; their sessions and the API tokens they created are revoked.
    Delete {
        /// Login name.
        username: String,
    },
}

/// API tokens (admin).
#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// List API tokens.
    List,
    /// Create an API token; its secret is printed once.
    Create {
        /// A name; the token acts as `token:<name>`.
        name: String,
        /// viewer, operator, approver or admin.
        #[arg(long)]
        role: String,
        /// Days until it expires (never, when left out).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// Revoke a token by id.
    Revoke {
        /// Token id.
        id: i64,
    },
}

/// Agent enrollment tokens and credentials (admin).
#[derive(Debug, Subcommand)]
pub enum EnrollmentsCmd {
    /// List enrollment tokens.
    List,
    /// Create a one-time enrollment token for `steward-agent --enroll`.
    Create {
        /// Only this hostname may use it.
        #[arg(long)]
        hostname: Option<String>,
        /// The host joins this cluster.
        #[arg(long)]
        cluster: Option<String>,
        /// Seconds until it expires.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// List per-host agent credentials.
    Credentials,
    /// Revoke an agent credential by id; its live session is closed.
    Revoke {
        /// Credential id.
        id: i64,
    },
}

/// The audit log (admin).
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List events, newest first.
    List {
        /// Only this actor.
        #[arg(long)]
        actor: Option<String>,
        /// Only this action, or a prefix ending in `.`.
        #[arg(long)]
        action: Option<String>,
        /// Only this target (`job:12`).
        #[arg(long)]
        target: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Check the hash chain; exits 1 and names the first broken event if it does not hold.
    Verify,
}

/// A password from STEWARD_PASSWORD, a prompt on a terminal, or the first line of stdin.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    if let Some(p) = std::env::var("STEWARD_PASSWORD").ok().filter(|p| !p.is_empty()) {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(prompt).context("cannot read the password");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        bail!("no password: set STEWARD_PASSWORD or pipe it on stdin");
    }
    Ok(p)
}

/// `steward login`: saves a session token for this server.
pub async fn login(client: &Client, server: &str, username: &str) -> anyhow::Result<()> {
    let password = read_password(&format!("Password for {username}: "))?;
    let v = client
        .login(&Login {
            username: username.to_owned(),
            password,
        })
        .await?;
    let file = session::save(server, Some(&v.token))?;
    println!(
        "Logged in to {server} as {username} ({}) until {}; session saved in {}.",
        v.role,
        when(Some(&v.expires_at)),
        file.display()
    );
    Ok(())
}

/// `steward logout`: ends the session on the server and forgets it here.
pub async fn logout(client: &Client, server: &str) -> anyhow::Result<()> {
    let r = client.logout().await;
    session::save(server, None)?;
    match r {
        Ok(_) => println!("Logged out of {server}."),
        Err(e) => println!("Forgot the local session for {server} ({:#}).", explain(e.into())),
    }
    Ok(())
}

/// A role as the API spells it (`viewer`, `operator`, `approver`, `admin`).
fn role(s: &str) -> anyhow::Result<Role> {
    Ok(s.parse::<Role>()?)
}

/// `steward users …`.
pub async fn users(client: &Client, cmd: UsersCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        UsersCmd::List => {
            let Some(users) = answer(client, &ListUsers, json_out).await? else {
                return Ok(());
            };
            let mut t = table(&["id", "username", "role", "disabled", "created"]);
            for u in &users {
                t.add_row(vec![
                    u.id.to_string(),
                    u.username.clone(),
                    u.role.to_string(),
                    if u.disabled { "yes" } else { "no" }.into(),
                    when(Some(&u.created_at)),
                ]);
            }
            println!("{t}");
        }
        UsersCmd::Add { username, role: r } => {
            let role = role(&r)?;
            let password = read_password(&format!("Password for the new user {username}: "))?;
            let body = NewUser {
                username,
                password,
                role,
            };
            if let Some(v) = answer(client, &CreateUser { body: &body }, json_out).await? {
                println!("User {} created with role {}.", v.username, v.role);
            }
        }
        UsersCmd::SetRole { username, role: r } => {
            let role = role(&r)?;
            let id = user_id(client, &username).await?;
            let body = UserUpdate {
                role: Some(role),
                disabled: None,
            };
            if let Some(v) = answer(client, &UpdateUser { id, body: &body }, json_out).await? {
                println!("User {} now has role {}.", v.username, v.role);
            }
        }
        UsersCmd::Disable { username } => set_disabled(client, &username, true, json_out).await?,
        UsersCmd::Enable { username } => set_disabled(client, &username, false, json_out).await?,
        UsersCmd::Delete { username } => {
            let id = user_id(client, &username).await?;
            client.delete_user(id).await?;
            println!("User {username} deleted; their sessions and API tokens are revoked.");
        }
    }
    Ok(())
}

/// The id of user `username`, from the user list.
async fn user_id(client: &Client, username: &str) -> anyhow::Result<i64> {
    client
        .list_users()
        .await?
        .into_iter()
        .find(|u| u.username == username)
        .map(|u| u.id)
        .ok_or_else(|| anyhow::anyhow!("not found: there is no user {username:?} (see `steward users list`)"))
}

/// Disables or enables user `username`.
async fn set_disabled(client: &Client, username: &str, disabled: bool, json_out: bool) -> anyhow::Result<()> {
    let id = user_id(client, username).await?;
    let body = UserUpdate {
        disabled: Some(disabled),
        role: None,
    };
    if answer(client, &UpdateUser { id, body: &body }, json_out)
        .await?
        .is_none()
    {
        return Ok(());
    }
    if disabled {
        println!("User {username} disabled; their sessions and API tokens stop working.");
    } else {
        println!("User {username} enabled.");
    }
    Ok(())
}

/// `steward tokens …`.
pub async fn tokens(client: &Client, cmd: TokensCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        TokensCmd::List => {
            let Some(tokens) = answer(client, &ListTokens, json_out).await? else {
                return Ok(());
            };
            let mut t = table(&["id", "name", "role", "created by", "expires", "revoked"]);
            for k in &tokens {
                t.add_row(vec![
                    k.id.to_string(),
                    k.name.clone(),
                    k.role.to_string(),
                    k.created_by.clone(),
                    when(k.expires_at.as_deref()),
                    when(k.revoked_at.as_deref()),
                ]);
            }
            println!("{t}");
        }
        TokensCmd::Create {
            name,
            role: r,
            expires_in_days,
        } => {
            let body = TokenRequest {
                name,
                role: role(&r)?,
                expires_at: expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d.into())),
            };
            let op = steward_client::operations::CreateToken { body: &body };
            if let Some(v) = answer(client, &op, json_out).await? {
                println!("{}", v.token);
                eprintln!(
                    "API token {} ({}, id {}) created. The secret above is shown once; store it now.",
                    v.token_view.name, v.token_view.role, v.token_view.id
                );
            }
        }
        TokensCmd::Revoke { id } => {
            if let Some(v) = answer(client, &RevokeToken { id }, json_out).await? {
                println!("Token {id} ({}) revoked.", v.name);
            }
        }
    }
    Ok(())
}

/// `steward enrollments …`.
pub async fn enrollments(client: &Client, cmd: EnrollmentsCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        EnrollmentsCmd::List => {
            let Some(list) = answer(client, &ListEnrollments, json_out).await? else {
                return Ok(());
            };
            let mut t = table(&["id", "hostname", "cluster", "expires", "used by", "used"]);
            for e in &list {
                t.add_row(vec![
                    e.id.to_string(),
                    dash(e.hostname.as_ref()),
                    dash(e.cluster.as_ref()),
                    when(Some(&e.expires_at)),
                    dash(e.used_by.as_ref()),
                    when(e.used_at.as_deref()),
                ]);
            }
            println!("{t}");
        }
        EnrollmentsCmd::Create {
            hostname,
            cluster,
            expires_in,
        } => {
            let body = NewEnrollment {
                hostname,
                cluster,
                expires_in,
            };
            if let Some(v) = answer(client, &CreateEnrollment { body: &body }, json_out).await? {
                println!("{}", dash(v.token.as_ref()));
                eprintln!(
                    "One-time enrollment token (id {}) valid until {}. On the host: steward-agent --server URL --enroll <token>",
                    v.id,
                    when(Some(&v.expires_at))
                );
            }
        }
        EnrollmentsCmd::Credentials => {
            let Some(list) = answer(client, &ListCredentials, json_out).await? else {
                return Ok(());
            };
            let mut t = table(&["id", "hostname", "enrollment", "created", "revoked"]);
            for c in &list {
                t.add_row(vec![
                    c.id.to_string(),
                    c.hostname.clone(),
                    c.enrollment_id.to_string(),
                    when(Some(&c.created_at)),
                    when(c.revoked_at.as_deref()),
                ]);
            }
            println!("{t}");
        }
        EnrollmentsCmd::Revoke { id } => {
            if let Some(v) = answer(client, &RevokeCredential { id }, json_out).await? {
                println!("Credential {id} of {} revoked; its session is closed.", v.hostname);
            }
        }
    }
    Ok(())
}

/// `steward audit …`; returns the exit code (1 when verification fails).
pub async fn audit(client: &Client, cmd: AuditCmd, json_out: bool) -> anyhow::Result<u8> {
    match cmd {
        AuditCmd::List {
            actor,
            action,
            target,
            limit,
        } => {
            let query = ListQuery {
                actor,
                action,
                target,
                limit: Some(limit),
                ..Default::default()
            };
            let Some(events) = answer(client, &List { query: &query }, json_out).await? else {
                return Ok(0);
            };
            let mut t = table(&["id", "at", "actor", "action", "target", "details"]);
            for e in &events {
                t.add_row(vec![
                    e.id.to_string(),
                    when(Some(&e.at)),
                    e.actor.clone(),
                    e.action.clone(),
                    e.target.clone(),
                    e.details.to_string(),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        AuditCmd::Verify => {
            if json_out {
                let v = client.call_json(&Verify).await?;
                print(&v)?;
                return Ok(if v["ok"] == true { 0 } else { 1 });
            }
            let v = client.verify().await?;
            if v.ok {
                println!("The audit chain holds: {} events verified.", v.events);
            } else {
                println!(
                    "The audit chain is BROKEN at event {}: {}",
                    dash(v.first_broken),
                    dash(v.reason.as_ref())
                );
            }
            Ok(if v.ok { 0 } else { 1 })
        }
    }
}
