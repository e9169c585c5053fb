//! sea-orm entities: one file per table, the same names as the domain (DESIGN.md).
pub mod agent_credential;
pub mod audit_event;
pub mod auth_token;
pub mod chat_message;
pub mod cluster;
pub mod conversation;
pub mod enrollment;
pub mod host;
pub mod host_component;
pub mod incident;
pub mod job;
pub mod stage;
pub mod task;
pub mod task_log;
pub mod user;
