//! `steward chat`: talk to the planner from a terminal, one-shot or interactive, streaming.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};

use super::{s, Client};

/// Sends one message and prints the reply as it streams; returns the proposals' ids.
async fn turn(client: &Client, conv: i64, text: &str) -> anyhow::Result<Vec<i64>> {
    let resp = client
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/chat/conversations/{conv}/messages"),
        )
        .header("accept", "text/event-stream")
        .json(&json!({"text": text}))
        .send()
        .await
        .context("cannot reach the server")?;
    let resp = super::client::check(resp).await?;
    let mut stream = resp.bytes_stream().eventsource();
    let mut out = std::io::stdout();
    let mut proposals = vec![];
    while let Some(ev) = stream.next().await {
        let ev = ev.context("the reply stream broke")?;
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        match ev.event.as_str() {
            "token" => {
                print!("{}", s(&data["text"]));
                let _ = out.flush();
            }
            "tool_call" => eprintln!("  · {}({})", s(&data["name"]), s(&data["arguments"])),
            "proposal" => {
                let j = &data["job"];
                proposals.push(j["id"].as_i64().unwrap_or(0));
                eprintln!(
                    "  ▶ proposed job {}: {} (risk {}, plan {})",
                    s(&j["id"]),
                    s(&j["summary"]),
                    s(&j["risk"]),
                    &s(&j["plan_hash"])[..12.min(s(&j["plan_hash"]).len())]
                );
            }
            "error" => anyhow::bail!("{}", s(&data["message"])),
            "done" => break,
            _ => {}
        }
    }
    println!();
    for id in &proposals {
        eprintln!("  review and approve:  steward jobs show {id}  ·  steward jobs approve {id}");
    }
    Ok(proposals)
}

/// `steward chat [MESSAGE]`: one-shot with a message, interactive without.
pub async fn run(client: &Client, message: Option<String>) -> anyhow::Result<()> {
    let conv: Value = client
        .post("/api/v1/chat/conversations", &json!({"channel": "cli"}))
        .await?;
    let id = conv["id"].as_i64().context("no conversation id")?;
    if let Some(m) = message {
        turn(client, id, &m).await?;
        return Ok(());
    }
    let tty = std::io::stdin().is_terminal();
    if tty {
        eprintln!("Steward chat (conversation {id}). Nothing runs without approval. Ctrl-D to leave.");
    }
    let stdin = std::io::stdin();
    loop {
        if tty {
            eprint!("you> ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = turn(client, id, line).await {
            eprintln!("error: {e:#}");
        }
    }
    Ok(())
}
