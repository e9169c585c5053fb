//! Our provider-neutral shapes to OpenAI's chat-completions wire types, and back.
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionTool, ChatCompletionTools, CompletionUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, FinishReason as WireFinishReason, FunctionCall, FunctionObject, ResponseFormat,
    ResponseFormatJsonSchema,
};
use serde_json::Value;

use crate::{ChatRequest, ChatResponse, FinishReason, LlmError, Message, Role, ToolCall, ToolDef, Usage};

/// Which request field caps the reply's length.
///
/// OpenAI's own endpoints (and Azure's) reject the older `max_tokens` for reasoning models and
/// want `max_completion_tokens`; most compatible servers (Ollama, llama.cpp, LM Studio, older
/// vLLM) read only `max_tokens`. So the endpoint's host decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenLimit {
    /// `max_completion_tokens`, for OpenAI and Azure OpenAI.
    MaxCompletionTokens,
    /// `max_tokens`, for everything else.
    MaxTokens,
}

impl TokenLimit {
    /// The field to use for the endpoint at `base_url`.
    pub(crate) fn for_base_url(base_url: &str) -> Self {
        let after_scheme = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
        let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
        let official = [
            "openai.com",
            "openai.azure.com",
            "cognitiveservices.azure.com",
            "services.ai.azure.com",
        ]
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")));
        if official {
            TokenLimit::MaxCompletionTokens
        } else {
            TokenLimit::MaxTokens
        }
    }
}

/// The wire request for `req` to `model` (not streamed; the caller sets `stream`).
#[allow(deprecated)] // `max_tokens` is deprecated by OpenAI, and is what compatible servers read.
pub(crate) fn request(req: &ChatRequest, model: &str, limit: TokenLimit) -> CreateChatCompletionRequest {
    let (max_completion_tokens, max_tokens) = match limit {
        TokenLimit::MaxCompletionTokens => (req.max_tokens, None),
        TokenLimit::MaxTokens => (None, req.max_tokens),
    };
    CreateChatCompletionRequest {
        model: model.to_string(),
        messages: req.messages.iter().map(message).collect(),
        // An empty `tools` array is rejected by OpenAI ("[] is too short"), so none is sent.
        tools: (!req.tools.is_empty()).then(|| req.tools.iter().map(tool).collect()),
        temperature: req.temperature,
        max_completion_tokens,
        max_tokens,
        response_format: req.response_schema.as_ref().map(response_format),
        ..Default::default()
    }
}

fn message(message: &Message) -> ChatCompletionRequestMessage {
    let text = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(text),
            name: None,
        }
        .into(),
        Role::User => ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(text),
            name: None,
        }
        .into(),
        Role::Assistant => ChatCompletionRequestAssistantMessage {
            // OpenAI wants no content (rather than "") on a message that only calls tools.
            content: (!text.is_empty() || message.tool_calls.is_empty())
                .then_some(ChatCompletionRequestAssistantMessageContent::Text(text)),
            tool_calls: (!message.tool_calls.is_empty()).then(|| {
                message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: call.id.clone(),
                            function: FunctionCall {
                                name: call.name.clone(),
                                arguments: call.arguments.clone(),
                            },
                        })
                    })
                    .collect()
            }),
            ..Default::default()
        }
        .into(),
        Role::Tool => ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(text),
            // A tool message without the id it answers is the caller's bug; the provider's 400
            // names it better than we could, so it is sent as is.
            tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        }
        .into(),
    }
}

fn tool(tool: &ToolDef) -> ChatCompletionTools {
    ChatCompletionTools::Function(ChatCompletionTool {
        function: FunctionObject {
            name: tool.name.clone(),
            description: (!tool.description.is_empty()).then(|| tool.description.clone()),
            parameters: Some(tool.parameters.clone()),
            // Strict function calling would reject the optional parameters our tools have.
            strict: None,
        },
    })
}

/// `response_format: {"type": "json_schema", …}`. `strict` is asked for only when the schema
/// meets OpenAI's conditions for it (every object closed and every property required): then
/// OpenAI decodes under the schema; otherwise a strict request would be refused with a 400,
/// and the non-strict one still steers the model (vLLM, Ollama and llama.cpp constrain their
/// decoding to the schema either way).
fn response_format(schema: &Value) -> ResponseFormat {
    ResponseFormat::JsonSchema {
        json_schema: ResponseFormatJsonSchema {
            description: None,
            name: schema_name(schema),
            schema: schema.clone(),
            strict: strict_compatible(schema).then_some(true),
        },
    }
}

/// The schema's `title` when OpenAI accepts it as a name (`[a-zA-Z0-9_-]{1,64}`), else `response`.
fn schema_name(schema: &Value) -> String {
    match schema.get("title").and_then(Value::as_str) {
        Some(title)
            if !title.is_empty()
                && title.len() <= 64
                && title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            title.to_string()
        }
        _ => "response".to_string(),
    }
}

/// Whether every object in the schema has `additionalProperties: false` and lists all its
/// properties as required: OpenAI's precondition for strict structured output.
fn strict_compatible(schema: &Value) -> bool {
    let Some(node) = schema.as_object() else {
        return true;
    };
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        let closed = node.get("additionalProperties") == Some(&Value::Bool(false));
        let required: Vec<&str> = node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !closed || !properties.keys().all(|key| required.contains(&key.as_str())) {
            return false;
        }
        if !properties.values().all(strict_compatible) {
            return false;
        }
    }
    let nested_one = ["items", "not"].iter().filter_map(|key| node.get(*key));
    let nested_many = ["anyOf", "allOf", "oneOf", "prefixItems"]
        .iter()
        .filter_map(|key| node.get(*key).and_then(Value::as_array))
        .flatten();
    let definitions = ["$defs", "definitions"]
        .iter()
        .filter_map(|key| node.get(*key).and_then(Value::as_object))
        .flat_map(|d| d.values());
    nested_one.chain(nested_many).chain(definitions).all(strict_compatible)
}

/// Our reply from the wire response.
pub(crate) fn response(response: CreateChatCompletionResponse) -> Result<ChatResponse, LlmError> {
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Malformed("the answer has no choices".into()))?;
    let tool_calls: Vec<ToolCall> = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, call)| match call {
            ChatCompletionMessageToolCalls::Function(call) => {
                tool_call(index, call.id, call.function.name, call.function.arguments)
            }
            ChatCompletionMessageToolCalls::Custom(call) => {
                tool_call(index, call.id, call.custom_tool.name, call.custom_tool.input)
            }
        })
        .collect();
    // A refusal is what the model said instead of an answer: the person should read it.
    let content = choice
        .message
        .content
        .filter(|text| !text.is_empty())
        .or(choice.message.refusal)
        .unwrap_or_default();
    Ok(ChatResponse {
        finish_reason: finish_reason(choice.finish_reason, !tool_calls.is_empty()),
        message: Message::assistant(content, tool_calls),
        usage: usage(response.usage),
    })
}

/// A tool call, with an id made up when the server sent none (some local servers do not), so
/// that the tool message answering it has something to refer to.
pub(crate) fn tool_call(index: usize, id: String, name: String, arguments: String) -> ToolCall {
    let id = if id.is_empty() { format!("call_{index}") } else { id };
    ToolCall { id, name, arguments }
}

/// Our finish reason. Some servers say `stop` (or nothing) after calling tools; the tool loop
/// keys on [`FinishReason::ToolCalls`], so tool calls win.
pub(crate) fn finish_reason(reason: Option<WireFinishReason>, called_tools: bool) -> FinishReason {
    match reason {
        Some(WireFinishReason::ToolCalls | WireFinishReason::FunctionCall) => FinishReason::ToolCalls,
        Some(WireFinishReason::Stop) | None if called_tools => FinishReason::ToolCalls,
        Some(WireFinishReason::Stop) => FinishReason::Stop,
        Some(WireFinishReason::Length) => FinishReason::Length,
        Some(WireFinishReason::ContentFilter) | None => FinishReason::Other,
    }
}

/// Token counts (zero when the server sent none).
pub(crate) fn usage(usage: Option<CompletionUsage>) -> Usage {
    usage
        .map(|usage| Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_and_azure_hosts_get_max_completion_tokens() {
        assert_eq!(
            TokenLimit::for_base_url("https://api.openai.com/v1"),
            TokenLimit::MaxCompletionTokens
        );
        assert_eq!(
            TokenLimit::for_base_url("https://res.openai.azure.com/openai/v1"),
            TokenLimit::MaxCompletionTokens
        );
        assert_eq!(
            TokenLimit::for_base_url("http://localhost:11434/v1"),
            TokenLimit::MaxTokens
        );
        assert_eq!(
            TokenLimit::for_base_url("http://notopenai.com/v1"),
            TokenLimit::MaxTokens
        );
    }

    #[test]
    fn a_closed_schema_is_sent_strict_and_an_open_one_is_not() {
        let closed = json!({
            "type": "object",
            "properties": {"action": {"type": "string"}, "hosts": {"type": "array", "items": {"type": "string"}}},
            "required": ["action", "hosts"],
            "additionalProperties": false
        });
        assert!(strict_compatible(&closed));
        let optional = json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false});
        assert!(!strict_compatible(&optional));
        let nested_open = json!({
            "type": "object",
            "properties": {"inner": {"type": "object", "properties": {"b": {}}, "required": ["b"]}},
            "required": ["inner"],
            "additionalProperties": false
        });
        assert!(!strict_compatible(&nested_open));
    }

    #[test]
    fn the_schema_name_is_its_title_when_openai_accepts_it() {
        assert_eq!(schema_name(&json!({"title": "propose_job"})), "propose_job");
        assert_eq!(schema_name(&json!({"title": "Propose a job"})), "response");
        assert_eq!(schema_name(&json!({})), "response");
    }

    #[test]
    fn tool_calls_win_over_a_stop_reason() {
        assert_eq!(
            finish_reason(Some(WireFinishReason::Stop), true),
            FinishReason::ToolCalls
        );
        assert_eq!(finish_reason(Some(WireFinishReason::Stop), false), FinishReason::Stop);
        assert_eq!(finish_reason(None, false), FinishReason::Other);
    }
}
