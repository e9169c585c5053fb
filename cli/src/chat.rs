//! `steward chat`: talk to the planner from a terminal, one-shot or interactive, streaming.
use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use futures::StreamExt;
use steward_client::types::{Channel, ChatEvent, NewConversation, NewMessage};
use steward_client::{ChatUpdate, Client, Error};

/// Sends one message and prints the reply as it streams; returns the proposals' ids.
async fn turn(client: &Client, conv: i64, text: &str) -> anyhow::Result<Vec<i64>> {
    let message = NewMessage { text: text.to_owned() };
    let stream = client.send_message_stream(conv, &message).await?;
    futures::pin_mut!(stream);
    let mut out = std::io::stdout();
    let mut proposals = vec![];
    while let Some(ev) = stream.next().await {
        let ev = match ev {
            // The server's own account of a failed turn is the whole message.
            Err(e @ Error::Remote(_)) => return Err(e.into()),
            other => other.context("the reply stream broke")?,
        };
        match ev {
            ChatUpdate::Event(ChatEvent::Token { text }) => {
                print!("{text}");
                let _ = out.flush();
            }
            ChatUpdate::Event(ChatEvent::ToolCall { name, arguments }) => eprintln!("  · {name}({arguments})"),
            ChatUpdate::Event(ChatEvent::Proposal { job }) => {
                proposals.push(job.job_summary.id);
                eprintln!(
                    "  ▶ proposed job {}: {} (risk {}, plan {})",
                    job.job_summary.id,
                    job.job_summary.summary,
                    job.job_summary.risk,
                    &job.plan_hash[..12.min(job.plan_hash.len())]
                );
            }
            ChatUpdate::Done(_) => break,
            ChatUpdate::Event(ChatEvent::ToolResult { .. }) => {}
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
    let settings = NewConversation {
        channel: Some(Channel::Cli),
    };
    let id = client.create_conversation(Some(&settings)).await?.id;
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
            eprintln!("error: {:#}", super::explain(e));
        }
    }
    Ok(())
}
