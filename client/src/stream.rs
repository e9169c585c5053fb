//! The API's server-sent event streams as typed events: the event feed, a chat turn, and a
//! task's log followed live.
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::operations::{Events, EventsQuery, SendMessage, TaskLogs, TaskLogsQuery};
use crate::types::{ChatEvent, Event, NewMessage, Reply};
use crate::{Client, Error};

/// An event of the feed (`GET /api/v1/events`).
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// A job, proposal, task, log or incident event, as the document's `Event` schema says.
    Event(Event),
    /// A task's log is replayed from `from_seq` on, not from its start (it is long); the
    /// whole log is at `log`.
    Truncated {
        /// Job id.
        job_id: i64,
        /// Task id.
        task_id: i64,
        /// The first line replayed.
        from_seq: i64,
        /// The API path of the whole log.
        log: String,
    },
    /// The client fell behind and `missed` events were dropped for it.
    Lagged {
        /// How many.
        missed: u64,
    },
}

/// What a streaming chat turn sends: the turn's events as they happen (reply text, the tools
/// the model calls and what they return, the jobs it proposes), then the whole reply. A turn
/// that fails ends the stream with [`Error::Remote`].
#[derive(Debug, Clone, PartialEq)]
pub enum ChatUpdate {
    /// An event of the turn, as the document's `ChatEvent` schema says.
    Event(ChatEvent),
    /// The turn is over: the whole reply. The last item.
    Done(Box<Reply>),
}

/// What following a task's log sends.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskLogEvent {
    /// One line of output.
    Log(LogLine),
    /// The task ended; the last event.
    End {
        /// Its final state.
        state: String,
        /// Its exit code, if it exited.
        exit_code: Option<i32>,
        /// Why it failed, when it did.
        error: Option<String>,
    },
}

/// One line of a task's output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LogLine {
    /// Position in the task's output.
    pub seq: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// The line.
    pub line: String,
    /// When it was written (RFC 3339); lines stored before following began carry it.
    #[serde(default)]
    pub at: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    message: String,
}

fn json<'a, T: Deserialize<'a>>(kind: &str, data: &'a str) -> Result<T, Error> {
    serde_json::from_str(data).map_err(|source| Error::Decode {
        what: format!("a `{kind}` event"),
        source,
    })
}

/// The feed event `kind` with `data`; `None` for a kind this SDK does not know (a newer
/// server's), which a stream skips as SSE clients do.
pub fn decode_feed(kind: &str, data: &str) -> Result<Option<FeedEvent>, Error> {
    #[derive(Deserialize)]
    struct Truncated {
        job_id: i64,
        task_id: i64,
        from_seq: i64,
        log: String,
    }
    #[derive(Deserialize)]
    struct Lagged {
        missed: u64,
    }
    Ok(Some(match kind {
        "job" | "proposal" | "task" | "log" | "incident" => FeedEvent::Event(json(kind, data)?),
        "truncated" => {
            let t: Truncated = json(kind, data)?;
            FeedEvent::Truncated {
                job_id: t.job_id,
                task_id: t.task_id,
                from_seq: t.from_seq,
                log: t.log,
            }
        }
        "lagged" => FeedEvent::Lagged {
            missed: json::<Lagged>(kind, data)?.missed,
        },
        _ => return Ok(None),
    }))
}

/// The chat event `kind` with `data`; an `error` event is [`Error::Remote`].
pub fn decode_chat(kind: &str, data: &str) -> Result<Option<ChatUpdate>, Error> {
    match kind {
        "token" | "tool_call" | "tool_result" | "proposal" => json(kind, data).map(|e| Some(ChatUpdate::Event(e))),
        "done" => Ok(Some(ChatUpdate::Done(json(kind, data)?))),
        "error" => Err(Error::Remote(json::<Message>(kind, data)?.message)),
        _ => Ok(None),
    }
}

/// The task log event `kind` with `data`; an `error` event is [`Error::Remote`].
pub fn decode_task_log(kind: &str, data: &str) -> Result<Option<TaskLogEvent>, Error> {
    #[derive(Deserialize)]
    struct End {
        state: String,
        exit_code: Option<i32>,
        error: Option<String>,
    }
    match kind {
        "log" => Ok(Some(TaskLogEvent::Log(json(kind, data)?))),
        "end" => {
            let e: End = json(kind, data)?;
            Ok(Some(TaskLogEvent::End {
                state: e.state,
                exit_code: e.exit_code,
                error: e.error,
            }))
        }
        "error" => Err(Error::Remote(json::<Message>(kind, data)?.message)),
        _ => Ok(None),
    }
}

/// Typed events from the bytes of an SSE body: `decode` turns each into an item or skips it;
/// the stream ends after an error, or after an item for which `last` holds.
pub fn decode_stream<S, B, T>(
    bytes: S,
    decode: fn(&str, &str) -> Result<Option<T>, Error>,
    last: fn(&T) -> bool,
) -> impl Stream<Item = Result<T, Error>> + Send + 'static
where
    S: Stream<Item = Result<B, Error>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    T: Send + 'static,
{
    let events = Box::pin(bytes.eventsource());
    futures::stream::unfold((events, false), move |(mut events, over)| async move {
        if over {
            return None;
        }
        loop {
            let item = match events.next().await? {
                Err(EventStreamError::Transport(e)) => Err(e),
                Err(e) => Err(Error::Stream(e.to_string())),
                Ok(ev) => match decode(&ev.event, &ev.data) {
                    Ok(None) => continue,
                    Ok(Some(item)) => Ok(item),
                    Err(e) => Err(e),
                },
            };
            let end = item.as_ref().map_or(true, last);
            return Some((item, (events, end)));
        }
    })
}

impl Client {
    /// The event feed: jobs, proposals, tasks, logs (for operators and above) and incidents as
    /// they happen. With `job`, that job's stored events first, then live ones until it ends.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use steward_client::operations::EventsQuery;
    /// use steward_client::types::Event;
    /// use steward_client::FeedEvent;
    ///
    /// # async fn example(client: steward_client::Client) -> Result<(), steward_client::Error> {
    /// let events = client.event_stream(&EventsQuery { job: Some(12) }).await?;
    /// futures::pin_mut!(events);
    /// while let Some(event) = events.next().await {
    ///     match event? {
    ///         FeedEvent::Event(Event::Log { line, .. }) => println!("{line}"),
    ///         FeedEvent::Event(Event::Job { state, .. }) => eprintln!("job 12 is {state}"),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn event_stream(
        &self,
        query: &EventsQuery,
    ) -> Result<impl Stream<Item = Result<FeedEvent, Error>> + Send + 'static, Error> {
        let resp = self.send(&Events { query }, "text/event-stream").await?;
        Ok(decode_stream(
            resp.bytes_stream().map(|r| r.map_err(Error::Transport)),
            decode_feed,
            |_| false,
        ))
    }

    /// Sends a message to conversation `conversation` and streams the turn: tokens, tool calls
    /// and results, proposals, then [`ChatUpdate::Done`] with the whole reply.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use steward_client::types::{Channel, NewConversation, NewMessage};
    /// use steward_client::types::ChatEvent;
    /// use steward_client::ChatUpdate;
    ///
    /// # async fn example(client: steward_client::Client) -> Result<(), steward_client::Error> {
    /// let conversation = client
    ///     .create_conversation(Some(&NewConversation { channel: Some(Channel::Api) }))
    ///     .await?;
    /// let message = NewMessage { text: "what hosts do we have?".into() };
    /// let turn = client.send_message_stream(conversation.id, &message).await?;
    /// futures::pin_mut!(turn);
    /// while let Some(event) = turn.next().await {
    ///     match event? {
    ///         ChatUpdate::Event(ChatEvent::Token { text }) => print!("{text}"),
    ///         ChatUpdate::Event(ChatEvent::Proposal { job }) => println!("\nproposed job {}", job.job_summary.id),
    ///         ChatUpdate::Done(reply) => println!("\n({} tool calls)", reply.tool_calls.len()),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send_message_stream(
        &self,
        conversation: i64,
        message: &NewMessage,
    ) -> Result<impl Stream<Item = Result<ChatUpdate, Error>> + Send + 'static, Error> {
        let op = SendMessage {
            id: conversation,
            body: message,
        };
        let resp = self.send(&op, "text/event-stream").await?;
        Ok(decode_stream(
            resp.bytes_stream().map(|r| r.map_err(Error::Transport)),
            decode_chat,
            |e| matches!(e, ChatUpdate::Done(_)),
        ))
    }

    /// Follows task `task` of job `job`: its output so far, then live lines, then
    /// [`TaskLogEvent::End`].
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use steward_client::TaskLogEvent;
    ///
    /// # async fn example(client: steward_client::Client) -> Result<(), steward_client::Error> {
    /// let log = client.follow_task_logs(12, 31).await?;
    /// futures::pin_mut!(log);
    /// while let Some(event) = log.next().await {
    ///     match event? {
    ///         TaskLogEvent::Log(l) => println!("{}", l.line),
    ///         TaskLogEvent::End { state, .. } => println!("task ended {state}"),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn follow_task_logs(
        &self,
        job: i64,
        task: i64,
    ) -> Result<impl Stream<Item = Result<TaskLogEvent, Error>> + Send + 'static, Error> {
        let query = TaskLogsQuery { follow: Some(true) };
        let op = TaskLogs {
            id: job,
            task_id: task,
            query: &query,
        };
        let resp = self.send(&op, "text/event-stream").await?;
        Ok(decode_stream(
            resp.bytes_stream().map(|r| r.map_err(Error::Transport)),
            decode_task_log,
            |e| matches!(e, TaskLogEvent::End { .. }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The items `text` (an SSE body, cut into `chunks` pieces as a network might) decodes to.
    async fn decode_text<T: Send + 'static>(
        text: &str,
        chunks: usize,
        decode: fn(&str, &str) -> Result<Option<T>, Error>,
        last: fn(&T) -> bool,
    ) -> Vec<Result<T, Error>> {
        let bytes: Vec<u8> = text.as_bytes().to_vec();
        let size = bytes.len().div_ceil(chunks);
        let parts: Vec<Result<Vec<u8>, Error>> = bytes.chunks(size).map(|c| Ok(c.to_vec())).collect();
        decode_stream(futures::stream::iter(parts), decode, last)
            .collect()
            .await
    }

    /// [`decode_text`]'s items when every one decodes.
    async fn decode_ok<T: Send + std::fmt::Debug + 'static>(
        text: &str,
        chunks: usize,
        decode: fn(&str, &str) -> Result<Option<T>, Error>,
        last: fn(&T) -> bool,
    ) -> Vec<T> {
        let items = decode_text(text, chunks, decode, last).await;
        items.into_iter().map(Result::unwrap).collect()
    }

    #[tokio::test]
    async fn the_feed_decodes_every_kind_and_skips_comments_and_unknown_kinds() {
        let text = concat!(
            ": keep-alive\n\n",
            "event: job\ndata: {\"type\":\"job\",\"job_id\":7,\"state\":\"RUNNING\",\"finished\":false}\n\n",
            "event: task\ndata: {\"type\":\"task\",\"job_id\":7,\"task_id\":9,\"host\":\"h1\",\"state\":\"SUCCESSFUL\",\"exit_code\":0}\n\n",
            "event: log\ndata: {\"type\":\"log\",\"job_id\":7,\"task_id\":9,\"seq\":1,\"stream\":\"stdout\",\"line\":\"line 1\"}\n\n",
            "event: truncated\ndata: {\"job_id\":7,\"task_id\":9,\"from_seq\":4,\"log\":\"/api/v1/jobs/7/tasks/9/logs\"}\n\n",
            "event: someday\ndata: {\"new\":true}\n\n",
            "event: lagged\ndata: {\"missed\":3}\n\n",
        );
        for chunks in [1, 7, 40] {
            let items: Vec<FeedEvent> = decode_ok(text, chunks, decode_feed, |_| false).await;
            assert_eq!(
                items,
                vec![
                    FeedEvent::Event(Event::Job {
                        job_id: 7,
                        state: "RUNNING".into(),
                        finished: Some(false)
                    }),
                    FeedEvent::Event(Event::Task {
                        job_id: 7,
                        task_id: 9,
                        host: "h1".into(),
                        state: "SUCCESSFUL".into(),
                        exit_code: Some(0)
                    }),
                    FeedEvent::Event(Event::Log {
                        job_id: 7,
                        task_id: 9,
                        seq: 1,
                        stream: "stdout".into(),
                        line: "line 1".into()
                    }),
                    FeedEvent::Truncated {
                        job_id: 7,
                        task_id: 9,
                        from_seq: 4,
                        log: "/api/v1/jobs/7/tasks/9/logs".into()
                    },
                    FeedEvent::Lagged { missed: 3 },
                ],
                "in {chunks} chunks"
            );
        }
    }

    #[tokio::test]
    async fn an_event_that_does_not_decode_ends_the_stream_with_a_decode_error() {
        let text =
            "event: job\ndata: {\"type\":\"job\",\"state\":\"RUNNING\"}\n\nevent: lagged\ndata: {\"missed\":1}\n\n";
        let items = decode_text(text, 1, decode_feed, |_| false).await;
        assert_eq!(items.len(), 1);
        let Err(Error::Decode { what, .. }) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(what, "a `job` event");
    }

    #[tokio::test]
    async fn a_chat_turn_streams_tokens_tools_proposals_then_the_reply() {
        let text = concat!(
            "event: tool_call\ndata: {\"type\":\"tool_call\",\"name\":\"list_hosts\",\"arguments\":\"{}\"}\n\n",
            "event: tool_result\ndata: {\"type\":\"tool_result\",\"name\":\"list_hosts\",\"ok\":true,\"source\":\"tool:list_hosts\"}\n\n",
            "event: token\ndata: {\"type\":\"token\",\"text\":\"Two \"}\n\n",
            "event: token\ndata: {\"type\":\"token\",\"text\":\"hosts.\"}\n\n",
            "event: done\ndata: {\"conversation_id\":4,\"reply\":\"Two hosts.\",\"proposals\":[],\"tool_calls\":[],\"sources\":[],\"citations\":[]}\n\n",
            "event: token\ndata: {\"type\":\"token\",\"text\":\"after the end\"}\n\n",
        );
        let items: Vec<ChatUpdate> = decode_ok(text, 3, decode_chat, |e| matches!(e, ChatUpdate::Done(_))).await;
        assert_eq!(items.len(), 5, "nothing after done: {items:?}");
        assert_eq!(
            items[0],
            ChatUpdate::Event(ChatEvent::ToolCall {
                name: "list_hosts".into(),
                arguments: "{}".into()
            })
        );
        assert_eq!(
            items[1],
            ChatUpdate::Event(ChatEvent::ToolResult {
                name: "list_hosts".into(),
                ok: true,
                source: "tool:list_hosts".into()
            })
        );
        assert_eq!(items[3], ChatUpdate::Event(ChatEvent::Token { text: "hosts.".into() }));
        let ChatUpdate::Done(reply) = &items[4] else {
            panic!("{:?}", items[4])
        };
        assert_eq!((reply.conversation_id, reply.reply.as_str()), (4, "Two hosts."));
    }

    #[tokio::test]
    async fn a_failed_chat_turn_ends_with_the_servers_message() {
        let text = "event: token\ndata: {\"type\":\"token\",\"text\":\"Hm\"}\n\nevent: error\ndata: {\"message\":\"the model timed out\"}\n\n";
        let items = decode_text(text, 1, decode_chat, |e| matches!(e, ChatUpdate::Done(_))).await;
        assert_eq!(items.len(), 2);
        assert!(
            matches!(&items[1], Err(Error::Remote(m)) if m == "the model timed out"),
            "{items:?}"
        );
    }

    #[tokio::test]
    async fn a_followed_task_log_ends_with_the_tasks_end() {
        let text = concat!(
            "event: log\ndata: {\"seq\":1,\"stream\":\"stdout\",\"line\":\"stored\",\"at\":\"2025-01-02T03:04:05Z\"}\n\n",
            "event: log\ndata: {\"seq\":2,\"stream\":\"stderr\",\"line\":\"live\"}\n\n",
            "event: end\ndata: {\"state\":\"FAILED\",\"exit_code\":3,\"error\":null}\n\n",
        );
        let items: Vec<TaskLogEvent> =
            decode_ok(text, 2, decode_task_log, |e| matches!(e, TaskLogEvent::End { .. })).await;
        assert_eq!(
            items,
            vec![
                TaskLogEvent::Log(LogLine {
                    seq: 1,
                    stream: "stdout".into(),
                    line: "stored".into(),
                    at: Some("2025-01-02T03:04:05Z".into())
                }),
                TaskLogEvent::Log(LogLine {
                    seq: 2,
                    stream: "stderr".into(),
                    line: "live".into(),
                    at: None
                }),
                TaskLogEvent::End {
                    state: "FAILED".into(),
                    exit_code: Some(3),
                    error: None
                },
            ]
        );
    }
}
