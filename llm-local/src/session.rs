//! One inference context that remembers what its KV cache holds, and generates replies.
//!
//! Planner prompts share a long prefix (instructions, catalog, few-shot examples) and
//! differ only at the end. Evaluating that prefix is most of a request's prompt time, so
//! the session keeps the tokens whose keys and values are in the cache, and on the next
//! request drops only the part after the longest common prefix and evaluates the rest.
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use steward_llm::{FinishReason, LlmError};

use crate::model::BATCH_TOKENS;
use crate::sampler::GreedySampler;
use crate::utf8::Utf8Pieces;

/// A context plus the tokens its KV cache holds.
pub(crate) struct Session<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    /// Tokens in the KV cache, in position order (position = index).
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
}

/// What one generation produced and what it cost.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    /// The reply text.
    pub text: String,
    /// Why it stopped.
    pub finish: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens found in the KV cache and not evaluated again.
    pub reused_tokens: usize,
    /// Tokens generated (the end-of-turn token excluded).
    pub completion_tokens: usize,
    /// Time evaluating the prompt's new tokens.
    pub prompt_time: Duration,
    /// Time generating.
    pub generation_time: Duration,
    /// Steps where the grammar rejected the best token and the vocabulary was masked.
    pub full_masks: u32,
}

impl<'m> Session<'m> {
    /// A session over a fresh context of `model`.
    pub(crate) fn new(model: &'m LlamaModel, ctx: LlamaContext<'m>) -> Self {
        Session {
            model,
            ctx,
            cached: Vec::new(),
            batch: LlamaBatch::new(BATCH_TOKENS as usize, 1),
        }
    }

    /// Generates a reply to `prompt`, at most `max_tokens` long, handing each piece of
    /// text to `on_text` as it is decoded; `on_text` may break to stop early.
    pub(crate) fn generate(
        &mut self,
        prompt: &[LlamaToken],
        sampler: &mut GreedySampler,
        max_tokens: usize,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<Generation, LlmError> {
        let capacity = self.ctx.n_ctx() as usize;
        if prompt.is_empty() || prompt.len() >= capacity {
            return Err(LlmError::Unavailable(format!(
                "the prompt has {} tokens; the local model's context holds {capacity}",
                prompt.len()
            )));
        }
        let max_tokens = max_tokens.min(capacity - prompt.len());

        let started = Instant::now();
        let reused = self.keep_common_prefix(prompt);
        self.feed(&prompt[reused..])?;
        let prompt_time = started.elapsed();

        let started = Instant::now();
        let vocab = self.model.vocab();
        let mut pieces = Utf8Pieces::default();
        let mut text = String::new();
        let mut bytes = Vec::new();
        let mut generated = 0;
        let finish = loop {
            if generated == max_tokens {
                break FinishReason::Length;
            }
            let token = sampler.choose(self.ctx.get_logits_ith(self.batch.n_tokens() - 1))?;
            // End of turn, end of text, or a control token such as a new `<start_of_turn>`:
            // the model has finished its turn either way.
            if vocab.is_eog(token) || vocab.is_control(token) {
                break FinishReason::Stop;
            }
            generated += 1;
            bytes.clear();
            vocab.token_to_piece_into(token, &mut bytes, false, None);
            let piece = pieces.push(&bytes);
            text.push_str(&piece);
            if !piece.is_empty() && on_text(&piece).is_break() {
                break FinishReason::Other;
            }
            // Under a grammar the model may pad a finished JSON value with whitespace before
            // it chooses to end; a complete object or array is the whole answer.
            if sampler.is_constrained() && piece.contains(['}', ']']) && is_complete_json(&text) {
                break FinishReason::Stop;
            }
            self.feed(&[token])?;
        };
        let rest = pieces.finish();
        if !rest.is_empty() {
            text.push_str(&rest);
            let _ = on_text(&rest);
        }

        Ok(Generation {
            text,
            finish,
            prompt_tokens: prompt.len(),
            reused_tokens: reused,
            completion_tokens: generated,
            prompt_time,
            generation_time: started.elapsed(),
            full_masks: sampler.full_masks,
        })
    }

    /// Drops the cached tokens after the longest prefix shared with `prompt` and returns
    /// how many are kept. At least the prompt's last token is always evaluated again,
    /// because its logits are the ones the first reply token is chosen from.
    fn keep_common_prefix(&mut self, prompt: &[LlamaToken]) -> usize {
        let shared = self.cached.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let keep = shared.min(prompt.len() - 1);
        if keep == self.cached.len() {
            return keep;
        }
        let removed = u32::try_from(keep)
            .ok()
            .and_then(|p0| self.ctx.clear_kv_cache_seq(Some(0), Some(p0), None).ok())
            .unwrap_or(false);
        if removed {
            self.cached.truncate(keep);
            keep
        } else {
            // The cache refused a partial removal; start from an empty one.
            self.clear();
            0
        }
    }

    /// Evaluates `tokens` after the cached ones, in batches; the last one's logits are kept.
    fn feed(&mut self, tokens: &[LlamaToken]) -> Result<(), LlmError> {
        for chunk in tokens.chunks(BATCH_TOKENS as usize) {
            self.batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let position = i32::try_from(self.cached.len() + i).unwrap_or(i32::MAX);
                self.batch
                    .add(token, position, &[0], i + 1 == chunk.len())
                    .map_err(|e| LlmError::Malformed(format!("cannot fill a llama.cpp batch: {e}")))?;
            }
            if let Err(e) = self.ctx.decode(&mut self.batch) {
                // The cache may hold part of the batch now; forget it rather than guess.
                self.clear();
                return Err(LlmError::Malformed(format!("llama.cpp failed to evaluate tokens: {e}")));
            }
            self.cached.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.ctx.clear_kv_cache();
        self.cached.clear();
    }
}

fn is_complete_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object() || v.is_array())
}
