"""The reference for `steward bench knowledge`'s embedding figures: the same texts through
sentence-transformers (PyTorch) on the same model files, timed the same way.

Run by scripts/embed-reference.sh, which makes the throw-away virtualenv; not part of make test.
Usage: embed-reference.py MODEL_DIR TEXTS_JSON
"""
import json
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer, __version__

try:  # where sentence-transformers 6 keeps the modules; older releases: `models`
    from sentence_transformers.sentence_transformer import modules as models
except ImportError:
    from sentence_transformers import models

model_dir, texts_path = sys.argv[1], sys.argv[2]
texts = json.load(open(texts_path))

# The package ships the bare Hugging Face files: a BERT and mean pooling, as all-MiniLM-L6-v2
# is defined, truncating at 256 word pieces as the reference does; vectors normalised.
bert = models.Transformer(model_dir, max_seq_length=256)
dimension = getattr(bert, "get_embedding_dimension", None) or bert.get_word_embedding_dimension
pooling = models.Pooling(dimension(), pooling_mode="mean")
model = SentenceTransformer(modules=[bert, pooling, models.Normalize()], device="cpu")

model.encode(texts[:8], batch_size=32)  # warm-up
started = time.perf_counter()
model.encode(texts, batch_size=32)
secs = time.perf_counter() - started

single = []
queries = [
    "kafka broker will not start after zookeeper session expired",
    "disk full on an-3",
    "how do I restart the namenode safely without losing blocks",
]
for i in range(30):
    t = time.perf_counter()
    model.encode([queries[i % 3]])
    single.append((time.perf_counter() - t) * 1000)
single.sort()
print(f"sentence-transformers {__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads:")
print(f"  {len(texts)} doc chunks in {secs:.1f} s: {len(texts) / secs:.1f} chunks/s")
print(f"  one short query: p50 {statistics.median(single):.1f} ms, p99 {single[min(len(single) - 1, int(0.99 * len(single)))]:.1f} ms")
