//! `LocalChat`: the local model behind Steward's `ChatModel` trait.
use std::path::Path;
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use steward_llm::{ChatModel, ChatRequest, ChatResponse, Delta, LlmError};
use tokio::sync::{mpsc, oneshot};

use crate::worker::{self, Job};
use crate::{grammar, prompt};

/// Threads used when the caller passes 0: the whole of the 2-core machines we target.
pub const DEFAULT_THREADS: usize = 2;

/// Reply length when the request sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// A GGUF chat model run in-process on the CPU by llama.cpp.
///
/// Decoding is greedy (the request's temperature is ignored) so an answer depends only on
/// its prompt. With `response_schema` set, the reply is decoded under a grammar made from
/// the schema and is always JSON of that shape (or cut short by `max_tokens`). The model
/// has no native tool calling: [`ChatModel::supports_tools`] is false and `tools` are
/// ignored; the planner asks for structured output instead.
///
/// Requests run one at a time on a dedicated thread; clones are not needed, share it in
/// an `Arc`.
#[derive(Debug)]
pub struct LocalChat {
    jobs: std_mpsc::SyncSender<Job>,
    name: String,
    stats: Arc<Mutex<Option<GenerationStats>>>,
}

/// What the last request cost, for logs, benchmarks and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationStats {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Of those, tokens already in the KV cache from the previous request (not evaluated).
    pub reused_prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Time evaluating the prompt's new tokens.
    pub prompt_time: Duration,
    /// Time generating the reply.
    pub generation_time: Duration,
    /// Steps where the grammar rejected the model's favourite token and the whole
    /// vocabulary had to be masked (the slow path).
    pub grammar_full_masks: u32,
}

impl LocalChat {
    /// Loads the GGUF model at `path` to run on `threads` CPU threads (0: [`DEFAULT_THREADS`]).
    ///
    /// Blocks for the load (about half a second for Gemma 3 270M); call it at start-up or
    /// from `spawn_blocking`. A missing or unreadable file gives [`LlmError::Unavailable`]
    /// naming the path.
    pub fn load(path: &Path, threads: usize) -> Result<Self, LlmError> {
        let threads = if threads == 0 { DEFAULT_THREADS } else { threads };
        let stats = Arc::new(Mutex::new(None));
        let jobs = worker::spawn(path, threads, Arc::clone(&stats))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(LocalChat {
            jobs,
            name: format!("local:{stem}"),
            stats,
        })
    }

    /// What the most recent completed request cost, if any has completed.
    pub fn last_stats(&self) -> Option<GenerationStats> {
        self.stats.lock().ok().and_then(|s| *s)
    }

    async fn generate(&self, req: &ChatRequest, deltas: Option<mpsc::Sender<Delta>>) -> Result<ChatResponse, LlmError> {
        let gbnf = req.response_schema.as_ref().map(grammar::gbnf_for).transpose()?;
        let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            prompt: prompt::render(&req.messages),
            gbnf,
            max_tokens: usize::try_from(max_tokens).unwrap_or(usize::MAX),
            deltas,
            reply,
        };
        self.jobs.try_send(job).map_err(|e| match e {
            std_mpsc::TrySendError::Full(_) => LlmError::Busy {
                queued: worker::QUEUE,
                retry_after_secs: 5,
            },
            std_mpsc::TrySendError::Disconnected(_) => stopped(),
        })?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> LlmError {
    LlmError::Unavailable("the local model's thread has stopped".into())
}

#[async_trait::async_trait]
impl ChatModel for LocalChat {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn supports_tools(&self) -> bool {
        false
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.generate(req, None).await
    }

    /// Sends each piece of text as it is generated. Drain `tx`'s receiver while awaiting:
    /// the model waits for room in the channel rather than drop a piece.
    async fn chat_stream(&self, req: &ChatRequest, tx: mpsc::Sender<Delta>) -> Result<ChatResponse, LlmError> {
        self.generate(req, Some(tx)).await
    }
}
