"""Trained weights shipped with the package, as ``.safetensors`` files (``engine/weights.py``).

Any command that takes a checkpoint takes their names (the file name without ``.safetensors``):
``sslr reconstruct tiny-srn tiny-mlp --data ...``. ``scripts/train_released_weights.sh`` trains them;
docs/weights.md has the commands and their Table 1.
"""
