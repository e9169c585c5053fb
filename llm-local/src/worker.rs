//! The thread that owns the model and runs every generation, one at a time.
//!
//! A llama.cpp context borrows its model, and keeping the context (and so its KV cache)
//! alive between requests is what makes prefix reuse possible. A dedicated thread can own
//! both on its stack without `unsafe` self-references; jobs arrive over a channel, which
//! also serialises them (one context at a time is right on a 2-core machine), and the
//! async side never blocks.
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use steward_llm::{ChatResponse, Delta, LlmError, Message, Usage};
use tokio::sync::{mpsc, oneshot};

use crate::prompt::Segment;
use crate::sampler::GreedySampler;
use crate::session::{Generation, Session};
use crate::{grammar, model, GenerationStats};

/// One request for the worker.
pub(crate) struct Job {
    /// The rendered prompt.
    pub prompt: Vec<Segment>,
    /// GBNF the reply must match, if any.
    pub gbnf: Option<String>,
    /// Longest reply, in tokens.
    pub max_tokens: usize,
    /// Where text pieces go as they are generated, when streaming.
    pub deltas: Option<mpsc::Sender<Delta>>,
    /// Where the whole reply goes.
    pub reply: oneshot::Sender<Result<ChatResponse, LlmError>>,
}

/// Requests that may wait for the model at once; one more is refused as busy (the API says
/// 429 with Retry-After) rather than queued behind minutes of generation.
pub const QUEUE: usize = 8;

/// Starts the worker, waits until the model has loaded, and returns its job queue.
pub(crate) fn spawn(
    path: &Path,
    threads: usize,
    stats: Arc<Mutex<Option<GenerationStats>>>,
) -> Result<std_mpsc::SyncSender<Job>, LlmError> {
    let (jobs, queue) = std_mpsc::sync_channel::<Job>(QUEUE);
    let (ready, loaded) = std_mpsc::channel::<Result<(), LlmError>>();
    let path: PathBuf = path.to_owned();
    std::thread::Builder::new()
        .name("steward-llm-local".into())
        .spawn(move || {
            let model = match model::load(&path) {
                Ok(model) => model,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let ctx = match model::context(&model, threads) {
                Ok(ctx) => ctx,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let _ = ready.send(Ok(()));
            let mut session = Session::new(&model, ctx);
            // Ends when the `LocalChat` (the last sender) is dropped.
            for job in queue {
                run(&model, &mut session, job, &stats);
            }
        })
        .map_err(|e| LlmError::Unavailable(format!("cannot start the local model's thread: {e}")))?;
    loaded
        .recv()
        .map_err(|_| LlmError::Unavailable("the local model's thread stopped while loading".into()))??;
    Ok(jobs)
}

fn run(model: &LlamaModel, session: &mut Session<'_>, job: Job, stats: &Mutex<Option<GenerationStats>>) {
    let Job {
        prompt,
        gbnf,
        max_tokens,
        deltas,
        reply,
    } = job;
    // Cancelled while it waited in the queue: spend nothing on it.
    if reply.is_closed() {
        return;
    }
    let result = (|| {
        let tokens = tokenize(model, &prompt);
        let grammar = gbnf.as_deref().map(|g| grammar::sampler(model, g)).transpose()?;
        let mut sampler = GreedySampler::new(grammar);
        session.generate(&tokens, &mut sampler, max_tokens, |piece| {
            // A caller that went away (request cancelled) needs no more tokens.
            if reply.is_closed() {
                return ControlFlow::Break(());
            }
            if let Some(deltas) = &deltas {
                // A dropped stream is not an error: the whole reply is still returned.
                let _ = deltas.blocking_send(Delta::Text(piece.to_owned()));
            }
            ControlFlow::Continue(())
        })
    })();
    let result = result.map(|generation| {
        let recorded = record(&generation);
        tracing::debug!(?recorded, "local model generation");
        if let Ok(mut last) = stats.lock() {
            *last = Some(recorded);
        }
        response(generation)
    });
    let _ = reply.send(result);
}

/// Tokenizes the prompt: markup with special tokens parsed, conversation text without,
/// after the beginning-of-sequence token Gemma expects.
fn tokenize(model: &LlamaModel, prompt: &[Segment]) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let mut tokens = Vec::new();
    if vocab.should_add_bos() {
        tokens.push(vocab.bos());
    }
    for segment in prompt {
        let (text, special) = match segment {
            Segment::Markup(m) => (*m, true),
            Segment::Text(t) => (t.as_str(), false),
        };
        // `add_special` is false: the BOS above is the only one.
        tokens.extend(vocab.tokenize(text.as_bytes(), false, special));
    }
    tokens
}

fn record(g: &Generation) -> GenerationStats {
    GenerationStats {
        prompt_tokens: g.prompt_tokens,
        reused_prompt_tokens: g.reused_tokens,
        completion_tokens: g.completion_tokens,
        prompt_time: g.prompt_time,
        generation_time: g.generation_time,
        grammar_full_masks: g.full_masks,
    }
}

fn response(g: Generation) -> ChatResponse {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    ChatResponse {
        message: Message::assistant(g.text, vec![]),
        usage: Usage {
            prompt_tokens: count(g.prompt_tokens),
            completion_tokens: count(g.completion_tokens),
        },
        finish_reason: g.finish,
    }
}
