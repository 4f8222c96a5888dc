"""The tags an sslr checkpoint carries (``engine/checkpoint.py`` writes them; ``engine/weights.py`` gives a
``.safetensors`` file's payload the same shape)."""

FORMAT = "sslr-checkpoint"
VERSION = 1
