//! Turns a request's JSON Schema into a llama.cpp grammar sampler.
//!
//! llama.cpp converts the schema to GBNF (enums, `required`, `maxItems` are honoured;
//! `uniqueItems` is not, so callers must deduplicate arrays themselves) and the grammar
//! sampler then rejects every token that would leave the language of that schema.
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use serde_json::Value;
use steward_llm::LlmError;

/// The GBNF grammar for `schema`.
pub(crate) fn gbnf_for(schema: &Value) -> Result<String, LlmError> {
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map_err(|e| LlmError::Unavailable(format!("the response schema cannot be turned into a grammar: {e}")))
}

/// A fresh grammar sampler for `gbnf`; one per request, as it tracks the text so far.
pub(crate) fn sampler(model: &LlamaModel, gbnf: &str) -> Result<LlamaSampler, LlmError> {
    LlamaSampler::grammar(model, gbnf, "root")
        .map_err(|e| LlmError::Unavailable(format!("llama.cpp rejected the response grammar: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_become_grammar_alternatives() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "command": { "enum": ["start", "stop"] } },
            "required": ["command"]
        });
        let gbnf = gbnf_for(&schema).unwrap();
        assert!(gbnf.contains("root ::="), "{gbnf}");
        assert!(gbnf.contains(r#"\"start\""#) && gbnf.contains(r#"\"stop\""#), "{gbnf}");
    }
}
