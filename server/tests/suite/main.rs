//! The server's integration tests, one module per area, linked into a single test binary:
//! each binary links the whole server with llama.cpp and qdrant-edge, so one link instead of
//! one per file saves minutes and gigabytes per build.
mod common;

mod agent_fuzz;
mod agent_messages;
mod auth;
mod bad_input;
mod chat;
mod chatops;
mod console_api;
mod enrollment;
mod job_path;
mod knowledge;
mod sdk;
mod stacks;
mod telemetry;
mod tls;
mod up_and_cli;
mod user_admin;
mod web_console;
