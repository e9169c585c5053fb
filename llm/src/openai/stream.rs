//! A streamed reply, assembled chunk by chunk: the deltas to forward as they come, and the whole
//! [`ChatResponse`] at the end.
use async_openai::types::chat::{CreateChatCompletionStreamResponse, FinishReason as WireFinishReason};

use super::wire;
use crate::{ChatResponse, Delta, LlmError, Message, Usage};

/// What the chunks have said so far.
#[derive(Debug, Default)]
pub(crate) struct StreamedReply {
    text: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    finish: Option<WireFinishReason>,
}

/// A tool call being written: its id and name come in its first fragment, its arguments in pieces.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl StreamedReply {
    /// Takes one chunk; returns the deltas to forward, in order.
    pub(crate) fn absorb(&mut self, chunk: CreateChatCompletionStreamResponse) -> Vec<Delta> {
        if let Some(usage) = chunk.usage {
            // OpenAI sends the counts in a last chunk of their own, with no choices.
            self.usage = Some(wire::usage(Some(usage)));
        }
        let mut deltas = Vec::new();
        // We ask for one choice; a server that sends others anyway is not listened to.
        for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
            let delta = choice.delta;
            for text in [delta.content, delta.refusal]
                .into_iter()
                .flatten()
                .filter(|text| !text.is_empty())
            {
                self.text.push_str(&text);
                deltas.push(Delta::Text(text));
            }
            for fragment in delta.tool_calls.into_iter().flatten() {
                let index = fragment.index as usize;
                if self.calls.len() <= index {
                    self.calls.resize_with(index + 1, PartialCall::default);
                }
                let call = &mut self.calls[index];
                if let Some(id) = fragment.id.filter(|id| !id.is_empty()) {
                    call.id = id;
                }
                let function = fragment.function.unwrap_or_default();
                // Some servers repeat the name in every fragment; the first one stands.
                if let Some(name) = function.name.filter(|name| !name.is_empty() && call.name.is_empty()) {
                    call.name = name;
                }
                let arguments = function.arguments.unwrap_or_default();
                call.arguments.push_str(&arguments);
                deltas.push(Delta::ToolCall {
                    index,
                    name: (!call.name.is_empty()).then(|| call.name.clone()),
                    arguments,
                });
            }
            if choice.finish_reason.is_some() {
                self.finish = choice.finish_reason;
            }
        }
        deltas
    }

    /// The whole reply, once the stream has ended. A stream that ended without saying why the
    /// model stopped was cut short (async-openai ends the stream alike on `[DONE]` and on a
    /// closed connection, so the finish reason is what tells them apart).
    pub(crate) fn finish(self) -> Result<ChatResponse, LlmError> {
        let Some(reason) = self.finish else {
            return Err(LlmError::Malformed(
                "the stream ended before the model finished (no finish_reason was sent)".into(),
            ));
        };
        let mut tool_calls = Vec::new();
        for (index, call) in self.calls.into_iter().enumerate() {
            // Servers whose indices skip numbers leave empty slots behind.
            if call.id.is_empty() && call.name.is_empty() && call.arguments.is_empty() {
                continue;
            }
            if call.name.is_empty() {
                return Err(LlmError::Malformed(format!(
                    "tool call {index} was streamed without a name"
                )));
            }
            tool_calls.push(wire::tool_call(index, call.id, call.name, call.arguments));
        }
        Ok(ChatResponse {
            finish_reason: wire::finish_reason(Some(reason), !tool_calls.is_empty()),
            message: Message::assistant(self.text, tool_calls),
            usage: self.usage.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FinishReason, ToolCall};
    use serde_json::{json, Value};

    fn chunk(choices: Value) -> CreateChatCompletionStreamResponse {
        serde_json::from_value(json!({
            "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices
        }))
        .unwrap()
    }

    #[test]
    fn interleaved_tool_call_fragments_are_joined_per_index() {
        let mut reply = StreamedReply::default();
        let call = |index: u32, id: Option<&str>, name: Option<&str>, args: &str| {
            json!([{"index": 0, "delta": {"tool_calls": [
                {"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": args}}
            ]}}])
        };
        let mut deltas = Vec::new();
        deltas.extend(reply.absorb(chunk(call(0, Some("a"), Some("search"), ""))));
        deltas.extend(reply.absorb(chunk(call(1, Some("b"), Some("metrics"), "{\"host\":"))));
        deltas.extend(reply.absorb(chunk(call(0, None, None, "{\"q\":\"kafka\"}"))));
        deltas.extend(reply.absorb(chunk(call(1, None, None, "\"h1\"}"))));
        deltas.extend(reply.absorb(chunk(json!([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]))));
        assert_eq!(deltas.len(), 4);
        assert_eq!(
            deltas[2],
            Delta::ToolCall {
                index: 0,
                name: Some("search".into()),
                arguments: "{\"q\":\"kafka\"}".into()
            }
        );
        let done = reply.finish().unwrap();
        assert_eq!(done.finish_reason, FinishReason::ToolCalls);
        assert_eq!(
            done.message.tool_calls,
            vec![
                ToolCall {
                    id: "a".into(),
                    name: "search".into(),
                    arguments: "{\"q\":\"kafka\"}".into()
                },
                ToolCall {
                    id: "b".into(),
                    name: "metrics".into(),
                    arguments: "{\"host\":\"h1\"}".into()
                },
            ]
        );
    }

    #[test]
    fn a_stream_without_a_finish_reason_is_malformed() {
        let mut reply = StreamedReply::default();
        reply.absorb(chunk(json!([{"index": 0, "delta": {"content": "Hel"}}])));
        assert!(matches!(reply.finish(), Err(LlmError::Malformed(_))));
    }
}
