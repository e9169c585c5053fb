//! Chat: conversations with the planner, the tool loop, and (later) Slack and Telegram.
//!
//! Owns the `conversations` and `chat_messages` tables. A turn renders the system prompt
//! with the live catalog, lets the model call read-only tools and `propose_job` for at most
//! a few rounds, and ends with a reply that says plainly whether a job was proposed. Nothing
//! the model says executes: a proposal waits for approval like any other.
pub(crate) mod answer;
mod resolve;
mod structured;
pub mod summary;
pub mod tools;

pub use summary::JobSummary;

use std::sync::Arc;

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use steward_llm::{ChatModel, ChatRequest, Delta, LlmError, Message, Prompts, Role};
use tokio::sync::mpsc;

use crate::db::entities::{chat_message, conversation};
use crate::db::Store;
use crate::inventory::{self, Presence};
use crate::jobs::{JobView, Jobs};
use crate::stacks::Catalog;

/// Tool rounds per turn before the planner gives up.
pub const MAX_ROUNDS: usize = 4;

/// What can go wrong in a chat turn.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// No such conversation (or not the caller's).
    #[error("conversation {0} not found")]
    NotFound(i64),
    /// The message is empty or too long.
    #[error("{0}")]
    Invalid(String),
    /// The language model failed; nothing was proposed.
    #[error(transparent)]
    Model(#[from] LlmError),
    /// A prompt template failed.
    #[error(transparent)]
    Prompt(#[from] steward_llm::PromptError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Reading the inventory failed.
    #[error(transparent)]
    Inventory(#[from] inventory::InventoryError),
    /// Reading a job failed (or there is no such job).
    #[error(transparent)]
    Job(#[from] crate::jobs::JobError),
}

/// Something a streaming client sees during a turn (the `data` of the SSE events `token`,
/// `tool_call`, `tool_result` and `proposal`; `done` carries the whole `Reply`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// More reply text.
    Token {
        /// The text.
        text: String,
    },
    /// The model called a tool.
    ToolCall {
        /// Tool name.
        name: String,
        /// Arguments as the model wrote them.
        arguments: String,
    },
    /// A tool answered.
    ToolResult {
        /// Tool name.
        name: String,
        /// Whether it succeeded.
        ok: bool,
        /// Source id of the result.
        source: String,
    },
    /// A job was proposed (it waits for approval).
    Proposal {
        /// The job.
        job: Box<JobView>,
    },
}

/// A tool call made during a turn.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ToolTrace {
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub arguments: String,
    /// Whether it succeeded.
    pub ok: bool,
    /// Source id of its result.
    pub source: String,
}

impl ToolTrace {
    /// The trace of `call` and what it produced.
    fn of(call: &steward_llm::ToolCall, out: &tools::Outcome) -> Self {
        ToolTrace {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
            ok: !out.error,
            source: out.source.clone(),
        }
    }
}

/// Sends `ev` to a streaming client, if there is one (a client that left is not an error).
async fn emit(events: &Option<mpsc::Sender<ChatEvent>>, ev: ChatEvent) {
    if let Some(tx) = events {
        let _ = tx.send(ev).await;
    }
}

/// Records the chunks a tool outcome quoted: their ids in `sources`, the chunks in
/// `citations`, each once (a failed call quotes none).
fn cite(
    quoted: &[crate::knowledge::Citation],
    sources: &mut Vec<String>,
    citations: &mut Vec<crate::knowledge::Citation>,
) {
    for c in quoted {
        if !sources.contains(&c.source) {
            sources.push(c.source.clone());
        }
        if !citations.contains(c) {
            citations.push(c.clone());
        }
    }
}

/// Sends a proposal a tool made to a streaming client and keeps it for the reply.
async fn take_proposal(events: &Option<mpsc::Sender<ChatEvent>>, job: Option<JobView>, proposals: &mut Vec<JobView>) {
    if let Some(job) = job {
        emit(
            events,
            ChatEvent::Proposal {
                job: Box::new(job.clone()),
            },
        )
        .await;
        proposals.push(job);
    }
}

/// The assistant's answer to one message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reply {
    /// Conversation id.
    pub conversation_id: i64,
    /// The assistant's text, ending with a plain statement of what was proposed.
    pub reply: String,
    /// Jobs proposed in this turn (PROPOSED: awaiting approval).
    pub proposals: Vec<JobView>,
    /// Tools the model called.
    pub tool_calls: Vec<ToolTrace>,
    /// Sources the answer drew on.
    pub sources: Vec<String>,
    /// The knowledge chunks the answer drew on, with titles and links.
    pub citations: Vec<crate::knowledge::Citation>,
}

/// A stored message of a conversation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredMessage {
    /// Id.
    pub id: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Jobs proposed with this message.
    pub proposals: Vec<i64>,
    /// On the assistant reply that ends a turn: every tool call the turn made, as in
    /// [`Reply::tool_calls`]; empty on other messages.
    pub tool_calls: Vec<ToolTrace>,
    /// On the assistant reply that ends a turn: the knowledge chunks it drew on, as in
    /// [`Reply::citations`]; empty on other messages.
    pub citations: Vec<crate::knowledge::Citation>,
    /// RFC 3339.
    pub at: String,
}

/// A conversation in the caller's list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    /// Id.
    pub id: i64,
    /// Where it was started: `web`, `api`, `cli`, `slack`, `telegram`.
    pub channel: String,
    /// The first message the user sent, cut to 80 characters; null before it.
    pub title: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// When its last message was stored (RFC 3339).
    pub updated_at: String,
    /// How many messages it holds (tool calls and results included).
    pub messages: u64,
}

/// A citation as stored with a reply (the knowledge crate's type is write-only JSON).
#[derive(Deserialize)]
struct StoredCitation {
    source: String,
    title: String,
    link: String,
}

/// Characters of the first user message kept as a conversation's title.
const TITLE_CHARS: usize = 80;

/// Conversations one list returns by default, and at most.
pub const CONVERSATIONS_DEFAULT: u64 = 50;
/// See [`CONVERSATIONS_DEFAULT`].
pub const CONVERSATIONS_MAX: u64 = 500;

/// What a turn's final reply records besides its text.
#[derive(Default)]
struct Annotations<'a> {
    proposals: &'a [i64],
    traces: Option<&'a [ToolTrace]>,
    citations: Option<&'a [crate::knowledge::Citation]>,
}

/// Messages of a conversation's past sent with a new turn, at most.
const HISTORY_MESSAGES: u64 = 40;
/// Bytes of a conversation's past sent with a new turn, at most.
const HISTORY_BYTES: usize = 32 * 1024;

/// The chat service.
#[derive(Clone)]
pub struct Chat {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) jobs: Jobs,
    pub(crate) presence: Arc<Presence>,
    pub(crate) model: Arc<dyn ChatModel>,
    pub(crate) prompts: Arc<Prompts>,
    /// The knowledge index behind `search_knowledge`; None when it is off.
    pub(crate) knowledge: Option<crate::knowledge::Knowledge>,
    /// The abuse limits: a proposal made in chat counts against the same per-user rate as
    /// one made through the API.
    pub(crate) limits: Option<crate::auth::Auth>,
    /// Host metrics and incidents for answers; set once telemetry has started (it needs the
    /// chat for remediation, so it starts after).
    pub(crate) telemetry: Arc<std::sync::OnceLock<crate::telemetry::Telemetry>>,
    structured: bool,
}

impl Chat {
    /// A chat service answering with `model`.
    pub fn new(
        store: Store,
        catalog: Arc<Catalog>,
        jobs: Jobs,
        presence: Arc<Presence>,
        model: Arc<dyn ChatModel>,
        prompts: Arc<Prompts>,
    ) -> Self {
        let structured = !model.supports_tools();
        Chat {
            store,
            catalog,
            jobs,
            presence,
            model,
            prompts,
            knowledge: None,
            limits: None,
            telemetry: Arc::default(),
            structured,
        }
    }

    /// Counts every proposal against `auth`'s per-user proposal rate.
    pub fn with_limits(mut self, auth: crate::auth::Auth) -> Self {
        self.limits = Some(auth);
        self
    }

    /// Lets the planner search `knowledge` (the `search_knowledge` tool).
    pub fn with_knowledge(mut self, knowledge: Option<crate::knowledge::Knowledge>) -> Self {
        self.knowledge = knowledge;
        self
    }

    /// Lets answers read host metrics and incidents from `telemetry` (every clone of this
    /// chat sees it).
    pub fn attach_telemetry(&self, telemetry: crate::telemetry::Telemetry) {
        let _ = self.telemetry.set(telemetry);
    }

    /// Uses the structured planner when `on`, or when the model cannot call tools.
    pub fn structured(mut self, on: bool) -> Self {
        self.structured = on || !self.model.supports_tools();
        self
    }

    /// Whether turns go through the structured planner (no tool calls).
    pub fn is_structured(&self) -> bool {
        self.structured
    }

    /// The model's name.
    pub fn model_name(&self) -> String {
        self.model.name()
    }

    /// Starts a conversation for `user` on `channel` (web, api, cli, slack, telegram).
    pub async fn create(&self, user: &str, channel: &str) -> Result<i64, ChatError> {
        let now = Utc::now();
        let txn = self.store.begin_write().await?;
        let c = conversation::ActiveModel {
            user: Set(user.into()),
            channel: Set(channel.into()),
            created_at: Set(now),
            title: Set(None),
            updated_at: Set(Some(now)),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        txn.commit().await?;
        Ok(c.id)
    }

    async fn conversation(&self, id: i64, user: &str) -> Result<conversation::Model, ChatError> {
        conversation::Entity::find_by_id(id)
            .one(self.store.read())
            .await?
            .filter(|c| c.user == user)
            .ok_or(ChatError::NotFound(id))
    }

    /// The end of a conversation to send the model: its newest messages, at most
    /// `HISTORY_MESSAGES` and `HISTORY_BYTES` of content, starting at a user message (so no
    /// tool result is cut from the call that asked for it). A long conversation costs the
    /// same per turn as a short one, and cannot outgrow the model's context.
    async fn recent_history(&self, id: i64) -> Result<Vec<Message>, ChatError> {
        let mut rows = chat_message::Entity::find()
            .filter(chat_message::Column::ConversationId.eq(id))
            .order_by_desc(chat_message::Column::Id)
            .limit(HISTORY_MESSAGES)
            .all(self.store.read())
            .await?;
        rows.reverse();
        let mut out: Vec<Message> = rows
            .into_iter()
            .filter_map(|m| {
                let role = match m.role.as_str() {
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    "tool" => Role::Tool,
                    _ => return None,
                };
                Some(Message {
                    role,
                    content: m.content,
                    tool_calls: serde_json::from_value(m.tool_calls).unwrap_or_default(),
                    tool_call_id: m.tool_call_id,
                })
            })
            .collect();
        let mut bytes: usize = out.iter().map(|m| m.content.len()).sum();
        while bytes > HISTORY_BYTES && !out.is_empty() {
            bytes -= out.remove(0).content.len();
        }
        while out.first().is_some_and(|m| m.role != Role::User) {
            out.remove(0);
        }
        Ok(out)
    }

    /// The messages of a conversation, oldest first (tool messages included).
    pub async fn history(&self, id: i64, user: &str) -> Result<Vec<StoredMessage>, ChatError> {
        self.conversation(id, user).await?;
        let rows = chat_message::Entity::find()
            .filter(chat_message::Column::ConversationId.eq(id))
            .order_by_asc(chat_message::Column::Id)
            .all(self.store.read())
            .await?;
        Ok(rows
            .into_iter()
            .map(|m| StoredMessage {
                id: m.id,
                role: m.role,
                content: m.content,
                proposals: serde_json::from_value(m.proposals).unwrap_or_default(),
                tool_calls: m
                    .tool_traces
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default(),
                citations: m
                    .citations
                    .and_then(|v| serde_json::from_value::<Vec<StoredCitation>>(v).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| crate::knowledge::Citation {
                        source: c.source,
                        title: c.title,
                        link: c.link,
                    })
                    .collect(),
                at: m.created_at.to_rfc3339(),
            })
            .collect())
    }

    /// `user`'s conversations, newest activity first, at most `limit`
    /// ([`CONVERSATIONS_MAX`] at most).
    pub async fn conversations(&self, user: &str, limit: u64) -> Result<Vec<ConversationView>, ChatError> {
        let limit = limit.clamp(1, CONVERSATIONS_MAX);
        let rows = conversation::Entity::find()
            .filter(conversation::Column::User.eq(user))
            .order_by_desc(conversation::Column::UpdatedAt)
            .order_by_desc(conversation::Column::Id)
            .limit(limit)
            .all(self.store.read())
            .await?;
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        let counts: std::collections::HashMap<i64, i64> = chat_message::Entity::find()
            .select_only()
            .column(chat_message::Column::ConversationId)
            .column_as(chat_message::Column::Id.count(), "n")
            .filter(chat_message::Column::ConversationId.is_in(ids))
            .group_by(chat_message::Column::ConversationId)
            .into_tuple::<(i64, i64)>()
            .all(self.store.read())
            .await?
            .into_iter()
            .collect();
        Ok(rows
            .into_iter()
            .map(|c| ConversationView {
                messages: counts.get(&c.id).copied().unwrap_or(0).max(0) as u64,
                id: c.id,
                channel: c.channel,
                title: c.title,
                created_at: c.created_at.to_rfc3339(),
                updated_at: c.updated_at.unwrap_or(c.created_at).to_rfc3339(),
            })
            .collect())
    }

    async fn store_message(&self, conv: i64, m: &Message, notes: Annotations<'_>) -> Result<(), ChatError> {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        };
        let now = Utc::now();
        let txn = self.store.begin_write().await?;
        chat_message::ActiveModel {
            conversation_id: Set(conv),
            role: Set(role.into()),
            content: Set(m.content.clone()),
            tool_calls: Set(serde_json::to_value(&m.tool_calls).unwrap_or(Value::Null)),
            tool_call_id: Set(m.tool_call_id.clone()),
            proposals: Set(json!(notes.proposals)),
            created_at: Set(now),
            tool_traces: Set(notes.traces.map(|t| json!(t))),
            citations: Set(notes.citations.map(|c| json!(c))),
            ..Default::default()
        }
        .insert(&*txn)
        .await?;
        // The list shows conversations by last activity, titled by their first request.
        let mut update = conversation::Entity::update_many()
            .col_expr(conversation::Column::UpdatedAt, now.into())
            .filter(conversation::Column::Id.eq(conv));
        if m.role == Role::User {
            let cut: String = m.content.trim().chars().take(TITLE_CHARS).collect();
            let title = cut.trim_end().to_owned();
            use sea_orm::sea_query::{Expr, Func};
            let first = Func::coalesce([Expr::col(conversation::Column::Title).into(), Expr::val(title).into()]);
            update = update.col_expr(conversation::Column::Title, first.into());
        }
        update.exec(&*txn).await?;
        txn.commit().await?;
        Ok(())
    }

    async fn system_prompt(&self, clusters: &[inventory::ClusterView]) -> Result<String, ChatError> {
        let mut services = vec![];
        let mut seen = std::collections::BTreeSet::new();
        for c in clusters {
            let Some(stack) = self.catalog.stack(&c.stack, &c.stack_version) else {
                continue;
            };
            if !seen.insert((stack.name.clone(), stack.version.clone())) {
                continue;
            }
            for s in stack.services.values() {
                for comp in s.components.values() {
                    let mut aliases = s.aliases.clone();
                    aliases.extend(comp.aliases.iter().cloned());
                    services.push(json!({
                        "stack": stack.name, "service": s.name, "component": comp.name, "aliases": aliases,
                        "commands": comp.commands.values().map(|c| json!({"name": c.name, "risk": c.risk.as_str(), "params": c.params.keys().collect::<Vec<_>>()})).collect::<Vec<_>>()
                    }));
                }
            }
        }
        Ok(self
            .prompts
            .render("system.tera", &json!({"clusters": clusters, "services": services}))?)
    }

    /// Answers `text` in conversation `id`; streams events into `events` when given. `cited`
    /// names what the request already draws on (an incident's id, the docs and logs quoted in
    /// it): a proposal made in this turn records them among its sources.
    pub async fn send(
        &self,
        id: i64,
        user: &str,
        source: &str,
        text: &str,
        events: Option<mpsc::Sender<ChatEvent>>,
        cited: Vec<String>,
    ) -> Result<Reply, ChatError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ChatError::Invalid("the message is empty".into()));
        }
        if text.len() > 8000 {
            return Err(ChatError::Invalid("the message is longer than 8000 bytes".into()));
        }
        self.conversation(id, user).await?;
        let clusters = inventory::list_clusters(self.store.read(), Some(&self.presence)).await?;
        let mut messages = vec![Message::system(self.system_prompt(&clusters).await?)];
        messages.extend(self.recent_history(id).await?);
        let user_msg = Message::user(text);
        self.store_message(id, &user_msg, Annotations::default()).await?;
        messages.push(user_msg);

        let mut proposals: Vec<JobView> = vec![];
        let mut traces = vec![];
        let mut sources = cited;
        let mut citations: Vec<crate::knowledge::Citation> = vec![];
        let mut final_text = String::new();
        let mut last_error = None;
        if self.structured {
            let d = self.structured_turn(user, source, text, &clusters, &sources).await?;
            cite(&d.citations, &mut sources, &mut citations);
            if let Some((call, out)) = d.outcome {
                traces.push(ToolTrace::of(&call, &out));
                cite(&out.citations, &mut sources, &mut citations);
                take_proposal(&events, out.proposal, &mut proposals).await;
            }
            emit(&events, ChatEvent::Token { text: d.text.clone() }).await;
            final_text = d.text;
        } else {
            // Only the tool loop offers tools: the structured planner never renders them.
            let tools = tools::definitions(self, &clusters)?;
            for round in 0..MAX_ROUNDS {
                let req = ChatRequest {
                    messages: messages.clone(),
                    tools: tools.clone(),
                    temperature: Some(0.0),
                    max_tokens: Some(1024),
                    response_schema: None,
                };
                let resp = match &events {
                    Some(ev) => {
                        let (tx, mut rx) = mpsc::channel::<Delta>(256);
                        let ev2 = ev.clone();
                        let forward = tokio::spawn(async move {
                            while let Some(d) = rx.recv().await {
                                if let Delta::Text(t) = d {
                                    let _ = ev2.send(ChatEvent::Token { text: t }).await;
                                }
                            }
                        });
                        let r = self.model.chat_stream(&req, tx).await;
                        let _ = forward.await;
                        r?
                    }
                    None => self.model.chat(&req).await?,
                };
                let calls = resp.message.tool_calls.clone();
                if calls.is_empty() {
                    final_text = resp.message.content.clone();
                    break;
                }
                let assistant = resp.message.clone();
                self.store_message(id, &assistant, Annotations::default()).await?;
                messages.push(assistant);
                for call in &calls {
                    let started = ChatEvent::ToolCall {
                        name: call.name.clone(),
                        arguments: call.arguments.clone(),
                    };
                    emit(&events, started).await;
                    let out = tools::call(self, user, source, call, &sources).await;
                    tracing::info!(tool = %call.name, ok = !out.error, round, "planner tool call");
                    let answered = ChatEvent::ToolResult {
                        name: call.name.clone(),
                        ok: !out.error,
                        source: out.source.clone(),
                    };
                    emit(&events, answered).await;
                    traces.push(ToolTrace::of(call, &out));
                    if out.error {
                        last_error = Some(out.result.clone());
                    } else if !sources.contains(&out.source) {
                        sources.push(out.source.clone());
                    }
                    cite(&out.citations, &mut sources, &mut citations);
                    take_proposal(&events, out.proposal, &mut proposals).await;
                    let quoted = self.prompts.render(
                        "tool_result.tera",
                        &json!({"name": call.name, "source": out.source, "body": out.result}),
                    )?;
                    let tool_msg = Message::tool(call.id.clone(), quoted);
                    self.store_message(id, &tool_msg, Annotations::default()).await?;
                    messages.push(tool_msg);
                }
                if round + 1 == MAX_ROUNDS {
                    final_text = format!(
                        "I stopped after {MAX_ROUNDS} rounds of tool calls{}.",
                        last_error
                            .as_deref()
                            .map(|e| format!("; the last error was: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        // The model's words never decide what the operator reads about proposals: say it here.
        let statement = if proposals.is_empty() {
            "No job was proposed.".to_owned()
        } else {
            let list: Vec<String> = proposals
                .iter()
                .map(|j| format!("job {} ({}, risk {})", j.job.id, j.job.summary, j.job.risk))
                .collect();
            format!("Proposed {}. It awaits approval; nothing has run.", list.join("; "))
        };
        let reply = if final_text.trim().is_empty() {
            statement.clone()
        } else {
            format!("{}\n\n{statement}", final_text.trim())
        };
        emit(
            &events,
            ChatEvent::Token {
                text: format!("\n\n{statement}"),
            },
        )
        .await;
        let ids: Vec<i64> = proposals.iter().map(|j| j.job.id).collect();
        let notes = Annotations {
            proposals: &ids,
            traces: Some(&traces),
            citations: Some(&citations),
        };
        self.store_message(id, &Message::assistant(reply.clone(), vec![]), notes)
            .await?;
        Ok(Reply {
            conversation_id: id,
            reply,
            proposals,
            tool_calls: traces,
            sources,
            citations,
        })
    }
}
