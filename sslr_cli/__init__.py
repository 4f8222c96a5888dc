"""sslr: Set-Structured Latent Representations as a command-line toolbox.

The library is usable without the CLI: ``sslr_cli.data`` (scene generators, HDF5 store),
``sslr_cli.models`` (pure ``torch.nn``), ``sslr_cli.engine`` (training, checkpoints) and
``sslr_cli.experiments`` (one module per paper experiment).
"""

__version__ = "0.1.0"
