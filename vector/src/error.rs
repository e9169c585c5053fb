//! What can go wrong with a vector store.
use std::path::PathBuf;

/// A vector store's error; each variant says what a person (or the server) should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An existing on-disk index cannot be opened: damaged files, a foreign directory, or one
    /// this process may not read. The server moves it aside and rebuilds from the sources.
    #[error("the vector index at {} cannot be opened ({reason}); move it aside and rebuild it", path.display())]
    Corrupt {
        /// The index directory.
        path: PathBuf,
        /// What failed, in the store's words.
        reason: String,
    },
    /// The index exists and is sound, but was built for vectors of another length (another
    /// embedding model): it must be rebuilt, not reused.
    #[error("the vector index at {location} holds {found}-dimensional vectors, but {expected} were asked for; rebuild it for the new embedding model")]
    DimensionMismatch {
        /// The directory or collection.
        location: String,
        /// The dimension the caller's embedder produces.
        expected: usize,
        /// The dimension the index was built with.
        found: usize,
    },
    /// The request itself is wrong (a vector of the wrong length, a delete with no filter…).
    #[error("invalid vector store request: {0}")]
    Invalid(String),
    /// The index could not be created or written on disk.
    #[error("vector index I/O failed at {}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The embedded engine failed an operation on an index that opened fine.
    #[error("the embedded vector engine failed: {0}")]
    Engine(String),
    /// The Qdrant server could not be reached or refused the request.
    #[error("the Qdrant server at {url} failed: {message}")]
    Server {
        /// The server's URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}
