"""The host's prompt-attention weights: parse and flag (:mod:`.parse`), inverse and rewrite (:mod:`.rewrite`)."""
