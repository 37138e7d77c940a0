"""Classification and clustering over embeddings: numpy and scikit-learn only (no torch, no store)."""
