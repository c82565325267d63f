"""The repository's policy: models, loading with line-numbered errors, and its JSON Schema."""
