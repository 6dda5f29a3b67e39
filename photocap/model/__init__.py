"""The captioning model: encoder registry, attention-LSTM decoder, decoding, vocabulary, checkpoints."""
