//! [`OpenAiEmbedder`]: an OpenAI-compatible `/embeddings` endpoint (OpenAI, Azure OpenAI, vLLM,
//! Ollama, llama.cpp server, LM Studio) behind the [`Embedder`] trait, with the same transport,
//! timeout and retries (429, 5xx, lost connections) as the chat provider.
use async_openai::types::embeddings::{CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput};

use super::endpoint::Endpoint;
use super::OpenAiConfig;
use crate::{Embedder, LlmError};

/// Texts per request unless changed with [`OpenAiEmbedder::with_max_batch`]: well under
/// OpenAI's limit of 2,048 inputs, and small enough that one retried request repeats little.
pub const DEFAULT_MAX_BATCH: usize = 128;

/// Sentence embeddings from an OpenAI-compatible endpoint.
pub struct OpenAiEmbedder {
    /// The endpoint: configuration (its `model` is the embedding model), client, retries.
    endpoint: Endpoint,
    /// The length of every vector; a reply with another length is refused.
    dimension: usize,
    /// Most texts in one request.
    max_batch: usize,
}

impl OpenAiEmbedder {
    /// An embedder for `config.model`, whose vectors have `dimension` components (e.g. 1536
    /// for `text-embedding-3-small`). Nothing is sent until the first [`Embedder::embed`].
    ///
    /// Fails with [`LlmError::Unavailable`] for a bad base URL, an empty model name or a zero
    /// dimension.
    pub fn new(config: OpenAiConfig, dimension: usize) -> Result<Self, LlmError> {
        if dimension == 0 {
            return Err(LlmError::Unavailable(
                "the embedding dimension must be at least 1".into(),
            ));
        }
        Ok(OpenAiEmbedder {
            endpoint: Endpoint::new(config)?,
            dimension,
            max_batch: DEFAULT_MAX_BATCH,
        })
    }

    /// An embedder whose dimension is learnt by embedding one short text now: for
    /// configurations that name a model but not its dimension.
    pub async fn detect(config: OpenAiConfig) -> Result<Self, LlmError> {
        let endpoint = Endpoint::new(config)?;
        let probe = vec!["dimension probe".to_string()];
        let response = request(&endpoint, &probe).await?;
        let dimension = response.data.first().map_or(0, |embedding| embedding.embedding.len());
        if dimension == 0 {
            return Err(LlmError::Malformed(format!(
                "{} returned no embedding for a probe text",
                endpoint.config.base_url
            )));
        }
        Ok(OpenAiEmbedder {
            endpoint,
            dimension,
            max_batch: DEFAULT_MAX_BATCH,
        })
    }

    /// Sends at most `max_batch` texts per request (at least one).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// The configuration in use (with the base URL normalised).
    pub fn config(&self) -> &OpenAiConfig {
        &self.endpoint.config
    }

    /// One request's vectors, checked and in input order.
    async fn embed_batch(&self, batch: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let response = request(&self.endpoint, batch).await?;
        in_input_order(response, batch.len(), self.dimension)
    }
}

#[async_trait::async_trait]
impl Embedder for OpenAiEmbedder {
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.max_batch) {
            vectors.extend(self.embed_batch(batch).await?);
        }
        Ok(vectors)
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model_id(&self) -> String {
        format!("openai:{}/{}", self.endpoint.config.model, self.dimension)
    }
}

/// Sends one `/embeddings` request for `texts`, retrying what is retryable.
async fn request(endpoint: &Endpoint, texts: &[String]) -> Result<CreateEmbeddingResponse, LlmError> {
    // OpenAI refuses an empty string as input; a single space embeds as "nothing" just as well.
    let input: Vec<String> = texts
        .iter()
        .map(|text| {
            if text.trim().is_empty() {
                " ".to_string()
            } else {
                text.clone()
            }
        })
        .collect();
    let request = CreateEmbeddingRequest {
        model: endpoint.config.model.clone(),
        input: EmbeddingInput::StringArray(input),
        ..Default::default()
    };
    endpoint
        .send(|| {
            let request = request.clone();
            async move { endpoint.client().embeddings().create(request).await }
        })
        .await
}

/// The response's vectors sorted by their `index`, refused unless there is exactly one of
/// `dimension` components per input.
fn in_input_order(
    response: CreateEmbeddingResponse,
    inputs: usize,
    dimension: usize,
) -> Result<Vec<Vec<f32>>, LlmError> {
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; inputs];
    for embedding in response.data {
        let index = embedding.index as usize;
        let slot = slots.get_mut(index).ok_or_else(|| {
            LlmError::Malformed(format!(
                "an embedding has index {index}, but only {inputs} texts were sent"
            ))
        })?;
        if slot.is_some() {
            return Err(LlmError::Malformed(format!("two embeddings have index {index}")));
        }
        if embedding.embedding.len() != dimension {
            return Err(LlmError::Malformed(format!(
                "the embedding model returned {}-dimensional vectors where {dimension} were expected; \
                 check the configured embedding dimension",
                embedding.embedding.len()
            )));
        }
        *slot = Some(embedding.embedding);
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(index, slot)| {
            slot.ok_or_else(|| LlmError::Malformed(format!("no embedding came back for text {index}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use async_openai::types::embeddings::Embedding;

    use super::*;

    fn response(entries: &[(u32, Vec<f32>)]) -> CreateEmbeddingResponse {
        CreateEmbeddingResponse {
            object: "list".into(),
            model: "m".into(),
            data: entries
                .iter()
                .map(|(index, embedding)| Embedding {
                    index: *index,
                    object: "embedding".into(),
                    embedding: embedding.clone(),
                })
                .collect(),
            usage: Default::default(),
        }
    }

    #[test]
    fn vectors_are_returned_in_input_order_whatever_the_reply_order() {
        let reply = response(&[(1, vec![0.0, 1.0]), (0, vec![1.0, 0.0])]);
        assert_eq!(
            in_input_order(reply, 2, 2).unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
    }

    #[test]
    fn missing_duplicate_out_of_range_and_wrong_length_vectors_are_refused() {
        let missing = in_input_order(response(&[(0, vec![1.0])]), 2, 1).unwrap_err();
        assert!(
            missing.to_string().contains("no embedding came back for text 1"),
            "{missing}"
        );
        let duplicate = in_input_order(response(&[(0, vec![1.0]), (0, vec![1.0])]), 2, 1).unwrap_err();
        assert!(duplicate.to_string().contains("two embeddings"), "{duplicate}");
        let out_of_range = in_input_order(response(&[(5, vec![1.0])]), 1, 1).unwrap_err();
        assert!(out_of_range.to_string().contains("index 5"), "{out_of_range}");
        let wrong = in_input_order(response(&[(0, vec![1.0, 2.0])]), 1, 3).unwrap_err();
        assert!(wrong.to_string().contains("2-dimensional"), "{wrong}");
    }
}
