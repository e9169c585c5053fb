//! Streaming chunks (`chat.completion.chunk` objects) in OpenAI's wire format, for
//! [`Reply::stream`](super::Reply::stream). The fake server fills in `model` from the request.
use serde_json::{json, Value};

/// A chunk with these `choices` (and optionally `usage`) in OpenAI's envelope.
pub fn envelope(choices: Value, usage: Option<Value>) -> Value {
    let mut chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "choices": choices,
    });
    if let Some(usage) = usage {
        chunk["usage"] = usage;
    }
    chunk
}

/// The first chunk OpenAI sends: the role, and empty content.
pub fn role() -> Value {
    envelope(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    )
}

/// A fragment of the reply's text.
pub fn text(fragment: &str) -> Value {
    envelope(
        json!([{"index": 0, "delta": {"content": fragment}, "finish_reason": null}]),
        None,
    )
}

/// A fragment of tool call number `index`: OpenAI sends the `id` and `name` in the first
/// fragment only, and the arguments' JSON text in pieces.
pub fn tool_call(index: u32, id: Option<&str>, name: Option<&str>, arguments: &str) -> Value {
    let mut call = json!({"index": index, "function": {"arguments": arguments}});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    if let Some(name) = name {
        call["function"]["name"] = json!(name);
    }
    envelope(
        json!([{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": null}]),
        None,
    )
}

/// The chunk that ends the reply, with its finish reason (`stop`, `tool_calls`, `length`).
pub fn finish(reason: &str) -> Value {
    envelope(json!([{"index": 0, "delta": {}, "finish_reason": reason}]), None)
}

/// The last chunk when the request asked for `stream_options.include_usage`: no choices, the counts.
pub fn usage(prompt_tokens: u32, completion_tokens: u32) -> Value {
    envelope(
        json!([]),
        Some(json!({
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        })),
    )
}
