//! Steward's command line over the REST API, on the SDK (`steward-client`): tables for people,
//! JSON on request. `stewardctl` is this alone; `steward` is this beside the server.
pub mod admin;
pub mod chat;
pub mod jobs;
pub mod knowledge;
pub mod session;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use steward_client::operations::{GetCluster, GetHost, ListClusters, ListHosts, ListStacks};
use steward_client::types::{HostView, NewCluster, Risk};
use steward_client::{Client, Operation};

use admin::{AuditCmd, EnrollmentsCmd, TokensCmd, UsersCmd};
use jobs::JobsCmd;
use knowledge::KnowledgeCmd;

/// Where the server is and how to talk to it: the flags every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The Steward server for client commands.
    #[arg(long, global = true, env = "STEWARD_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Bearer token for client commands [default: the session `steward login` saved].
    #[arg(long, global = true, env = "STEWARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA certificate to trust for an https:// server instead of the built-in web roots.
    #[arg(long, global = true, env = "STEWARD_CA")]
    pub ca: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The client commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Jobs: list, show, propose, approve, reject, cancel, logs.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Talk to the planner: one message, or an interactive session without one.
    Chat {
        /// The message (omit for an interactive session).
        message: Option<String>,
    },
    /// Hosts and their components.
    Hosts {
        /// One host (name or id).
        host: Option<String>,
    },
    /// The stack catalog.
    Stacks,
    /// Clusters.
    #[command(subcommand)]
    Clusters(ClustersCmd),
    /// Log in and keep the session for this server (password from STEWARD_PASSWORD, stdin or a prompt).
    Login {
        /// Login name.
        #[arg(long, default_value = "admin")]
        username: String,
    },
    /// End the session and forget it.
    Logout,
    /// Users (admin).
    #[command(subcommand)]
    Users(UsersCmd),
    /// API tokens for tooling (admin).
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Agent enrollment tokens and credentials (admin).
    #[command(subcommand)]
    Enrollments(EnrollmentsCmd),
    /// The audit log: list, verify (admin).
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The knowledge index: search, status.
    #[command(subcommand)]
    Knowledge(KnowledgeCmd),
}

/// Inventory and catalog commands.
#[derive(Debug, Subcommand)]
pub enum ClustersCmd {
    /// List clusters.
    List,
    /// Show one cluster and its hosts.
    Show {
        /// Name or id.
        cluster: String,
    },
    /// Create a cluster from a JSON file (`{name, stack, version?, config?, hosts: [{hostname, components}]}`).
    Create {
        /// The JSON file.
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Delete a cluster (admin): its hosts leave it, its job logs leave the knowledge index.
    Delete {
        /// Name or id.
        cluster: String,
    },
}

/// Runs a client command against the server `conn` names; returns the process exit code.
pub async fn run(conn: &Connection, cmd: Command) -> anyhow::Result<u8> {
    let token = conn.token.clone().or_else(|| session::load(&conn.server));
    let client = Client::builder(&conn.server)
        .token(token)
        .ca_file(conn.ca.as_deref())
        .build()?;
    let json = conn.json;
    let done = |r: anyhow::Result<()>| r.map(|_| 0);
    let result = match cmd {
        Command::Jobs(cmd) => jobs::run(&client, cmd, json).await,
        Command::Chat { message } => done(chat::run(&client, message).await),
        Command::Hosts { host } => done(hosts(&client, host, json).await),
        Command::Stacks => done(stacks(&client, json).await),
        Command::Clusters(cmd) => done(clusters(&client, cmd, json).await),
        Command::Login { username } => done(admin::login(&client, &conn.server, &username).await),
        Command::Logout => done(admin::logout(&client, &conn.server).await),
        Command::Users(cmd) => done(admin::users(&client, cmd, json).await),
        Command::Tokens(cmd) => done(admin::tokens(&client, cmd, json).await),
        Command::Enrollments(cmd) => done(admin::enrollments(&client, cmd, json).await),
        Command::Audit(cmd) => admin::audit(&client, cmd, json).await,
        Command::Knowledge(cmd) => done(knowledge::run(&client, cmd, json).await),
    };
    result.map_err(explain)
}

/// An SDK error as the command line tells it: an unreachable server gets a hint at the flags.
pub(crate) fn explain(e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<steward_client::Error>() {
        Ok(steward_client::Error::Connect { base, source }) => anyhow::Error::new(source).context(format!(
            "cannot reach the Steward server at {base} (is it running? set --server or STEWARD_URL)"
        )),
        Ok(other) => other.into(),
        Err(e) => e,
    }
}

/// The answer to `op`: printed as the server wrote it with `--json` (then `None`), else typed.
pub(crate) async fn answer<O: Operation>(client: &Client, op: &O, json: bool) -> anyhow::Result<Option<O::Output>> {
    if json {
        print(&client.call_json(op).await?)?;
        return Ok(None);
    }
    Ok(Some(client.call(op).await?))
}

/// Prints `v` as pretty JSON (`--json`).
pub(crate) fn print(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    t
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC) for tables; `-` for none.
fn when(t: Option<&str>) -> String {
    let Some(t) = t else { return "-".into() };
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| t.to_owned())
}

/// A value for a table cell; `-` for none.
fn dash<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// `steward hosts [HOST]`.
pub async fn hosts(client: &Client, host: Option<String>, json: bool) -> anyhow::Result<()> {
    let list: Vec<HostView> = match &host {
        Some(h) => match answer(client, &GetHost { id: h }, json).await? {
            Some(one) => vec![one.host_view],
            None => return Ok(()),
        },
        None => match answer(client, &ListHosts, json).await? {
            Some(all) => all.into_iter().map(|h| h.host_view).collect(),
            None => return Ok(()),
        },
    };
    let mut t = table(&[
        "ID",
        "HOST",
        "STATE",
        "CLUSTER",
        "COMPONENTS",
        "LAST HEARTBEAT",
        "AGENT",
    ]);
    for h in &list {
        let comps: Vec<String> = h
            .components
            .iter()
            .map(|c| format!("{}/{} ({})", c.service, c.component, c.state))
            .collect();
        t.add_row(vec![
            h.id.to_string(),
            h.hostname.clone(),
            h.state.clone(),
            dash(h.cluster.as_ref()),
            comps.join("\n"),
            when(h.last_heartbeat.as_deref()),
            dash(h.agent_version.as_ref()),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `steward stacks`.
pub async fn stacks(client: &Client, json: bool) -> anyhow::Result<()> {
    let Some(stacks) = answer(client, &ListStacks, json).await? else {
        return Ok(());
    };
    let mut t = table(&["STACK", "SERVICE", "COMPONENT", "COMMANDS (high risk marked !)"]);
    for st in &stacks {
        for svc in &st.services {
            for c in &svc.components {
                let cmds: Vec<String> = c
                    .commands
                    .iter()
                    .map(|cmd| format!("{}{}", cmd.name, if cmd.risk == Risk::High { "!" } else { "" }))
                    .collect();
                t.add_row(vec![
                    format!("{} {}", st.name, st.version),
                    svc.name.clone(),
                    c.name.clone(),
                    cmds.join(" "),
                ]);
            }
        }
    }
    println!("{t}");
    Ok(())
}

/// `steward clusters …`.
pub async fn clusters(client: &Client, cmd: ClustersCmd, json: bool) -> anyhow::Result<()> {
    let one = |c: Option<_>| c.map(|c| vec![c]);
    let list = match cmd {
        ClustersCmd::List => answer(client, &ListClusters, json).await?,
        ClustersCmd::Show { cluster } => one(answer(client, &GetCluster { id: &cluster }, json).await?),
        ClustersCmd::Create { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let body: NewCluster =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let op = steward_client::operations::CreateCluster { body: &body };
            one(answer(client, &op, json).await?)
        }
        ClustersCmd::Delete { cluster } => {
            client.delete_cluster(&cluster).await?;
            println!("Deleted cluster {cluster}.");
            return Ok(());
        }
    };
    let Some(list) = list else { return Ok(()) };
    let mut t = table(&["ID", "CLUSTER", "STACK", "HOSTS"]);
    for c in &list {
        let hosts: Vec<String> = c
            .hosts
            .iter()
            .map(|h| format!("{} ({})", h.hostname, h.state))
            .collect();
        t.add_row(vec![
            c.id.to_string(),
            c.name.clone(),
            format!("{} {}", c.stack, c.stack_version),
            hosts.join("\n"),
        ]);
    }
    println!("{t}");
    Ok(())
}
