"""Training, alignment, evaluation and the end-to-end demo (uses models/ and analysis/)."""
