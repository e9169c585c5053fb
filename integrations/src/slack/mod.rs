//! Slack: request signatures, what Slack sends (events, slash commands, interactions), the
//! Web API client, proposal cards in Block Kit, and Socket Mode.
mod blocks;
mod inbound;
pub mod socket_mode;
mod verify;
mod web_api;

pub use blocks::{
    decision, escape, fallback_text, parse_action_value, proposal_blocks, APPROVE_ACTION_ID, REJECT_ACTION_ID,
};
pub use inbound::{
    parse_interaction, Action, ActionUser, BlockActions, Event, EventEnvelope, IdOnly, Interaction, MessageEvent,
    MessageTs, ParseError, SlashCommand,
};
pub use socket_mode::{SocketEvent, SocketModeError};
pub use verify::{verify, ReplayGuard, VerifyError, MAX_SKEW_SECS, SIGNATURE_HEADER, TIMESTAMP_HEADER};
pub use web_api::{MessageRef, PostMessage, WebApi, WebApiError, DEFAULT_BASE_URL};
