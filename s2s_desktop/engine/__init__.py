"""The engine: models, training, decoding and file formats (no Qt).

Importing it bounds oneDNN's kernel caches before torch runs its first oneDNN kernel (they read these
variables then, not at `import torch`). On CPU, bf16 matmuls go through oneDNN, which compiles and caches
one kernel per input shape, each holding its own reordered copy of the weight matrix (512 KiB for a
1024 x 256 bf16 layer), up to 1,024 of them in ideep's cache and 1,024 in oneDNN's. Decoding meets a new
row count (sentences x beam still live) at almost every step, so the app grew by ~150 MiB in 300
translations and kept growing (the soak's RSS drift, issue 20). 64 entries each keep the kernels a
decoding step reuses: no measurable change in speed (docs/benchmarks.md). A user's own setting wins.
"""

import os

ONEDNN_CACHE_ENTRIES = "64"
os.environ.setdefault("LRU_CACHE_CAPACITY", ONEDNN_CACHE_ENTRIES)  # ideep (torch's oneDNN wrapper)
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", ONEDNN_CACHE_ENTRIES)  # oneDNN itself
