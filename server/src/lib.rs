//! Steward's server: the control plane behind the `steward` binary.
//!
//! See ARCHITECTURE.md for the codemap and the invariants.
pub mod agents;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bench;
pub mod chat;
pub mod cli;
pub mod config;
pub mod db;
pub mod evals;
pub mod events;
pub mod inventory;
pub mod jobs;
pub mod knowledge;
pub mod metrics;
pub mod server;
pub mod stacks;
pub mod telemetry;
pub mod tls;
