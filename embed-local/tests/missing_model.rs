//! A model directory without the model fails with an error a person can act on.
use steward_embed_local::LocalEmbedder;

#[test]
fn a_missing_model_names_the_directory_and_the_fetch_script() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().join("all-minilm-l6-v2");

    let error = LocalEmbedder::load(&dir)
        .err()
        .expect("loading from an empty place fails");

    let message = error.to_string();
    assert!(message.contains(&dir.display().to_string()), "{message}");
    assert!(message.contains("scripts/fetch-embedder.sh"), "{message}");
    assert!(message.contains("model.safetensors"), "{message}");
}

#[test]
fn a_damaged_model_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::write(dir.path().join(name), b"not a model").unwrap();
    }

    let error = LocalEmbedder::load(dir.path()).err().expect("garbage does not load");

    assert!(error.to_string().contains("config.json"), "{error}");
}
