"""Training and evaluation engine: device/precision, checkpoints, run directories, the training loop."""
