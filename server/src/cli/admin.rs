//! `steward login`, `logout`, `users`, `tokens`, `enrollments`, `agents`, `audit`.
use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

use super::{s, session, table, when, Client};

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

/// Prints `v` as pretty JSON (`--json`).
pub(crate) fn print(v: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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
        .post(
            "/api/v1/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await?;
    let token = v["token"].as_str().context("the server sent no token")?;
    let file = session::save(server, Some(token))?;
    println!(
        "Logged in to {server} as {username} ({}) until {}; session saved in {}.",
        s(&v["role"]),
        when(&v["expires_at"]),
        file.display()
    );
    Ok(())
}

/// `steward logout`: ends the session on the server and forgets it here.
pub async fn logout(client: &Client, server: &str) -> anyhow::Result<()> {
    let r = client.post("/api/v1/auth/logout", &json!({})).await;
    session::save(server, None)?;
    match r {
        Ok(_) => println!("Logged out of {server}."),
        Err(e) => println!("Forgot the local session for {server} ({e:#})."),
    }
    Ok(())
}

/// `steward users …`.
pub async fn users(client: &Client, cmd: UsersCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        UsersCmd::List => {
            let v = client.get("/api/v1/users").await?;
            if json_out {
                return print(&v);
            }
            let mut t = table(&["id", "username", "role", "disabled", "created"]);
            for u in v.as_array().into_iter().flatten() {
                t.add_row(vec![
                    s(&u["id"]),
                    s(&u["username"]),
                    s(&u["role"]),
                    if u["disabled"] == true { "yes" } else { "no" }.into(),
                    when(&u["created_at"]),
                ]);
            }
            println!("{t}");
        }
        UsersCmd::Add { username, role } => {
            let password = read_password(&format!("Password for the new user {username}: "))?;
            let v = client
                .post(
                    "/api/v1/users",
                    &json!({"username": username, "password": password, "role": role}),
                )
                .await?;
            if json_out {
                return print(&v);
            }
            println!("User {} created with role {}.", s(&v["username"]), s(&v["role"]));
        }
        UsersCmd::SetRole { username, role } => {
            let id = user_id(client, &username).await?;
            let v = client
                .patch(&format!("/api/v1/users/{id}"), &json!({"role": role}))
                .await?;
            if json_out {
                return print(&v);
            }
            println!("User {} now has role {}.", s(&v["username"]), s(&v["role"]));
        }
        UsersCmd::Disable { username } => set_disabled(client, &username, true, json_out).await?,
        UsersCmd::Enable { username } => set_disabled(client, &username, false, json_out).await?,
        UsersCmd::Delete { username } => {
            let id = user_id(client, &username).await?;
            client.delete(&format!("/api/v1/users/{id}")).await?;
            println!("User {username} deleted; their sessions and API tokens are revoked.");
        }
    }
    Ok(())
}

/// The id of user `username`, from the user list.
async fn user_id(client: &Client, username: &str) -> anyhow::Result<i64> {
    let v = client.get("/api/v1/users").await?;
    v.as_array()
        .into_iter()
        .flatten()
        .find(|u| u["username"] == username)
        .and_then(|u| u["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("not found: there is no user {username:?} (see `steward users list`)"))
}

/// Disables or enables user `username`.
async fn set_disabled(client: &Client, username: &str, disabled: bool, json_out: bool) -> anyhow::Result<()> {
    let id = user_id(client, username).await?;
    let v = client
        .patch(&format!("/api/v1/users/{id}"), &json!({"disabled": disabled}))
        .await?;
    if json_out {
        return print(&v);
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
            let v = client.get("/api/v1/tokens").await?;
            if json_out {
                return print(&v);
            }
            let mut t = table(&["id", "name", "role", "created by", "expires", "revoked"]);
            for k in v.as_array().into_iter().flatten() {
                t.add_row(vec![
                    s(&k["id"]),
                    s(&k["name"]),
                    s(&k["role"]),
                    s(&k["created_by"]),
                    when(&k["expires_at"]),
                    when(&k["revoked_at"]),
                ]);
            }
            println!("{t}");
        }
        TokensCmd::Create {
            name,
            role,
            expires_in_days,
        } => {
            let expires_at =
                expires_in_days.map(|d| (chrono::Utc::now() + chrono::Duration::days(d.into())).to_rfc3339());
            let v = client
                .post(
                    "/api/v1/tokens",
                    &json!({"name": name, "role": role, "expires_at": expires_at}),
                )
                .await?;
            if json_out {
                return print(&v);
            }
            println!("{}", s(&v["token"]));
            eprintln!(
                "API token {} ({}, id {}) created. The secret above is shown once; store it now.",
                s(&v["name"]),
                s(&v["role"]),
                s(&v["id"])
            );
        }
        TokensCmd::Revoke { id } => {
            let v = client.delete(&format!("/api/v1/tokens/{id}")).await?;
            if json_out {
                return print(&v);
            }
            println!("Token {id} ({}) revoked.", s(&v["name"]));
        }
    }
    Ok(())
}

/// `steward enrollments …`.
pub async fn enrollments(client: &Client, cmd: EnrollmentsCmd, json_out: bool) -> anyhow::Result<()> {
    match cmd {
        EnrollmentsCmd::List => {
            let v = client.get("/api/v1/enrollments").await?;
            if json_out {
                return print(&v);
            }
            let mut t = table(&["id", "hostname", "cluster", "expires", "used by", "used"]);
            for e in v.as_array().into_iter().flatten() {
                t.add_row(vec![
                    s(&e["id"]),
                    s(&e["hostname"]),
                    s(&e["cluster"]),
                    when(&e["expires_at"]),
                    s(&e["used_by"]),
                    when(&e["used_at"]),
                ]);
            }
            println!("{t}");
        }
        EnrollmentsCmd::Create {
            hostname,
            cluster,
            expires_in,
        } => {
            let v = client
                .post(
                    "/api/v1/enrollments",
                    &json!({"hostname": hostname, "cluster": cluster, "expires_in": expires_in}),
                )
                .await?;
            if json_out {
                return print(&v);
            }
            println!("{}", s(&v["token"]));
            eprintln!(
                "One-time enrollment token (id {}) valid until {}. On the host: steward-agent --server URL --enroll <token>",
                s(&v["id"]),
                when(&v["expires_at"])
            );
        }
        EnrollmentsCmd::Credentials => {
            let v = client.get("/api/v1/agent-credentials").await?;
            if json_out {
                return print(&v);
            }
            let mut t = table(&["id", "hostname", "enrollment", "created", "revoked"]);
            for c in v.as_array().into_iter().flatten() {
                t.add_row(vec![
                    s(&c["id"]),
                    s(&c["hostname"]),
                    s(&c["enrollment_id"]),
                    when(&c["created_at"]),
                    when(&c["revoked_at"]),
                ]);
            }
            println!("{t}");
        }
        EnrollmentsCmd::Revoke { id } => {
            let v = client.delete(&format!("/api/v1/agent-credentials/{id}")).await?;
            if json_out {
                return print(&v);
            }
            println!(
                "Credential {id} of {} revoked; its session is closed.",
                s(&v["hostname"])
            );
        }
    }
    Ok(())
}

/// `steward audit …`; returns the exit code (1 when verification fails).
pub async fn audit(client: &Client, cmd: AuditCmd, json_out: bool) -> anyhow::Result<i32> {
    match cmd {
        AuditCmd::List {
            actor,
            action,
            target,
            limit,
        } => {
            let mut q = vec![format!("limit={limit}")];
            for (k, v) in [("actor", actor), ("action", action), ("target", target)] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", urlencode(&v)));
                }
            }
            let v = client.get(&format!("/api/v1/audit?{}", q.join("&"))).await?;
            if json_out {
                print(&v)?;
                return Ok(0);
            }
            let mut t = table(&["id", "at", "actor", "action", "target", "details"]);
            for e in v.as_array().into_iter().flatten() {
                t.add_row(vec![
                    s(&e["id"]),
                    when(&e["at"]),
                    s(&e["actor"]),
                    s(&e["action"]),
                    s(&e["target"]),
                    e["details"].to_string(),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        AuditCmd::Verify => {
            let v = client.get("/api/v1/audit/verify").await?;
            if json_out {
                print(&v)?;
            } else if v["ok"] == true {
                println!("The audit chain holds: {} events verified.", s(&v["events"]));
            } else {
                println!(
                    "The audit chain is BROKEN at event {}: {}",
                    s(&v["first_broken"]),
                    s(&v["reason"])
                );
            }
            Ok(if v["ok"] == true { 0 } else { 1 })
        }
    }
}

pub(crate) fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
