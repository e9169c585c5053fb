//! The stack catalog, as the API shows it.
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::AppState;
use crate::stacks::{doc_title, Risk};

/// A stack version with its services.
#[derive(Serialize, ToSchema)]
pub struct StackInfo {
    name: String,
    version: String,
    description: String,
    #[schema(value_type = Object)]
    config: serde_json::Value,
    services: Vec<ServiceInfo>,
}

/// A service.
#[derive(Serialize, ToSchema)]
pub struct ServiceInfo {
    name: String,
    description: String,
    aliases: Vec<String>,
    components: Vec<ComponentInfo>,
    /// The Markdown documents the service ships.
    docs: Vec<DocRef>,
}

/// A stack document, as listed.
#[derive(Serialize, ToSchema)]
pub struct DocRef {
    /// Relative to the stacks root: the `<path>` of the knowledge index's `doc:<path>#anchor`
    /// citations, and of `GET /api/v1/stacks/docs/{path}`.
    path: String,
    /// Its first heading (or its file name).
    title: String,
}

/// A stack document with its text.
#[derive(Serialize, ToSchema)]
pub struct StackDoc {
    /// Relative to the stacks root.
    path: String,
    /// Its first heading (or its file name).
    title: String,
    /// The Markdown text, as the stack ships it.
    markdown: String,
}

/// A component.
#[derive(Serialize, ToSchema)]
pub struct ComponentInfo {
    name: String,
    description: String,
    aliases: Vec<String>,
    requires: Vec<String>,
    commands: Vec<CommandInfo>,
}

/// A command.
#[derive(Serialize, ToSchema)]
pub struct CommandInfo {
    name: String,
    description: String,
    aliases: Vec<String>,
    risk: Risk,
    timeout_secs: u32,
    /// JSON Schema of each parameter.
    #[schema(value_type = Object)]
    params: serde_json::Value,
}

/// Every stack with its services, components and commands.
#[utoipa::path(get, path = "/api/v1/stacks", tag = "stacks", responses((status = 200, body = Vec<StackInfo>)))]
pub async fn list_stacks(State(s): State<AppState>) -> Result<Json<Vec<StackInfo>>, ApiError> {
    let out = s
        .catalog
        .stacks()
        .map(|st| StackInfo {
            name: st.name.clone(),
            version: st.version.clone(),
            description: st.description.clone(),
            config: serde_json::to_value(&st.config).unwrap_or_default(),
            services: st
                .services
                .values()
                .map(|svc| ServiceInfo {
                    name: svc.name.clone(),
                    description: svc.description.clone(),
                    aliases: svc.aliases.clone(),
                    docs: svc
                        .docs
                        .iter()
                        .map(|(p, text)| DocRef {
                            path: p.clone(),
                            title: doc_title(p, text),
                        })
                        .collect(),
                    components: svc
                        .components
                        .values()
                        .map(|c| ComponentInfo {
                            name: c.name.clone(),
                            description: c.description.clone(),
                            aliases: c.aliases.clone(),
                            requires: c.requires.iter().map(|(s, c)| format!("{s}/{c}")).collect(),
                            commands: c
                                .commands
                                .values()
                                .map(|cmd| CommandInfo {
                                    name: cmd.name.clone(),
                                    description: cmd.description.clone(),
                                    aliases: cmd.aliases.clone(),
                                    risk: cmd.risk,
                                    timeout_secs: cmd.timeout_secs,
                                    params: cmd
                                        .params
                                        .iter()
                                        .map(|(k, p)| (k.clone(), p.schema()))
                                        .collect::<serde_json::Map<_, _>>()
                                        .into(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(Json(out))
}

/// One document a stack ships, by the path `GET /api/v1/stacks` lists (and citations use):
/// e.g. `bigdata/1.0/services/kafka/docs/kafka.md`.
#[utoipa::path(get, path = "/api/v1/stacks/docs/{*path}", tag = "stacks",
    params(("path" = String, Path, description = "The document's path, as listed by GET /api/v1/stacks")),
    responses((status = 200, body = StackDoc), (status = 404, body = ErrorBody)))]
pub async fn get_doc(State(s): State<AppState>, ApiPath(path): ApiPath<String>) -> Result<Json<StackDoc>, ApiError> {
    let markdown = s
        .catalog
        .doc(&path)
        .ok_or_else(|| ApiError::not_found(format!("no stack ships a document at {path:?}")))?;
    Ok(Json(StackDoc {
        title: doc_title(&path, markdown),
        markdown: markdown.to_owned(),
        path,
    }))
}
