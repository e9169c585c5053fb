//! The stack catalog, as the API shows it.
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::AppState;
use crate::stacks::Risk;

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
    docs: Vec<String>,
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
                    docs: svc.docs.iter().map(|(p, _)| p.clone()).collect(),
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
