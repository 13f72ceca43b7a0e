"""Training: the one engine, optimizers, callbacks and crash-safe checkpoints."""
