//! The `steward` command line over the REST API: tables for people, JSON on request.
pub mod admin;
pub mod chat;
mod client;
pub mod jobs;
pub mod knowledge;
pub mod session;

use clap::Subcommand;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

pub use client::Client;
pub use jobs::JobsCmd;

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

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    t
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC) for tables.
fn when(v: &serde_json::Value) -> String {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| s(v))
}

fn s(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `steward hosts [HOST]`.
pub async fn hosts(client: &Client, host: Option<String>, json: bool) -> anyhow::Result<()> {
    let v = match &host {
        Some(h) => client.get(&format!("/api/v1/hosts/{h}")).await?,
        None => client.get("/api/v1/hosts").await?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let list = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
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
        let comps: Vec<String> = h["components"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{}/{} ({})", s(&c["service"]), s(&c["component"]), s(&c["state"])))
                    .collect()
            })
            .unwrap_or_default();
        t.add_row(vec![
            s(&h["id"]),
            s(&h["hostname"]),
            s(&h["state"]),
            s(&h["cluster"]),
            comps.join("\n"),
            when(&h["last_heartbeat"]),
            s(&h["agent_version"]),
        ]);
    }
    println!("{t}");
    Ok(())
}

/// `steward stacks`.
pub async fn stacks(client: &Client, json: bool) -> anyhow::Result<()> {
    let v = client.get("/api/v1/stacks").await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut t = table(&["STACK", "SERVICE", "COMPONENT", "COMMANDS (high risk marked !)"]);
    for st in v.as_array().into_iter().flatten() {
        for svc in st["services"].as_array().into_iter().flatten() {
            for c in svc["components"].as_array().into_iter().flatten() {
                let cmds: Vec<String> = c["commands"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|cmd| format!("{}{}", s(&cmd["name"]), if cmd["risk"] == "high" { "!" } else { "" }))
                    .collect();
                t.add_row(vec![
                    format!("{} {}", s(&st["name"]), s(&st["version"])),
                    s(&svc["name"]),
                    s(&c["name"]),
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
    let v = match cmd {
        ClustersCmd::List => client.get("/api/v1/clusters").await?,
        ClustersCmd::Show { cluster } => client.get(&format!("/api/v1/clusters/{cluster}")).await?,
        ClustersCmd::Create { file } => {
            let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let body: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            client.post("/api/v1/clusters", &body).await?
        }
        ClustersCmd::Delete { cluster } => {
            client.delete(&format!("/api/v1/clusters/{cluster}")).await?;
            println!("Deleted cluster {cluster}.");
            return Ok(());
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let list = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    let mut t = table(&["ID", "CLUSTER", "STACK", "HOSTS"]);
    for c in &list {
        let hosts: Vec<String> = c["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| format!("{} ({})", s(&h["hostname"]), s(&h["state"])))
            .collect();
        t.add_row(vec![
            s(&c["id"]),
            s(&c["name"]),
            format!("{} {}", s(&c["stack"]), s(&c["stack_version"])),
            hosts.join("\n"),
        ]);
    }
    println!("{t}");
    Ok(())
}
