//! The provider-neutral sentence-embedding trait that the knowledge index embeds with.
use crate::LlmError;

/// A sentence-embedding model: text in, one fixed-length vector per text out.
///
/// Two implementations: the local all-MiniLM-L6-v2 in the `steward-embed-local` crate (the
/// default) and [`OpenAiEmbedder`](crate::OpenAiEmbedder) for any OpenAI-compatible
/// `/embeddings` endpoint. Vectors of one model are comparable with each other only, so the
/// index stores [`Embedder::model_id`] and re-embeds everything when it changes.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in the order given, each [`Embedder::dimension`] long. An empty
    /// slice gives an empty result without any work. Implementations split large inputs into
    /// bounded batches themselves.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError>;

    /// The length of every vector this model returns.
    fn dimension(&self) -> usize;

    /// Names the vector space, e.g. `local:all-minilm-l6-v2` or
    /// `openai:text-embedding-3-small/1536`: two embedders with the same id produce comparable
    /// vectors, and a stored index built under another id must be rebuilt.
    fn model_id(&self) -> String;
}
