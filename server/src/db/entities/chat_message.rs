//! One message of a conversation, tool calls and results included (the model's memory).
use sea_orm::entity::prelude::*;

/// A row of `chat_messages`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub conversation_id: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    pub content: String,
    /// The assistant's tool calls (a JSON array).
    pub tool_calls: Json,
    /// For a tool message: the call it answers.
    pub tool_call_id: Option<String>,
    /// Ids of jobs proposed with this message (a JSON array).
    pub proposals: Json,
    pub created_at: DateTimeUtc,
    /// On the reply that ends a turn: every tool call of the turn (`ToolTrace`s, a JSON array).
    pub tool_traces: Option<Json>,
    /// On the reply that ends a turn: the knowledge chunks it cites (a JSON array).
    pub citations: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
