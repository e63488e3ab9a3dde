"""Reading corpora, tokenizing, batching, and subword-to-word helpers (torch-free except dataset and batching)."""
