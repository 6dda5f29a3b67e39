"""The captioning model: encoder registry, attention-LSTM decoder, decoding, vocabulary, checkpoints."""

# The encoder names, importable without torch (the CLI lists them in --help).
ENCODER_NAMES = (
    *(f"efficientnet_lite{v}" for v in range(3)),
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
)
