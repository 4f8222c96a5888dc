"""Pure ``torch.nn`` models: image encoders (H_embed, H_set), set generators (MLP, SRN), set
encoders (H_agg with FSPool) and task heads (F_reconstruct, F_match). No I/O here."""

from sslr_cli.config import ModelConfig
from sslr_cli.models.autoencoder import SetAutoencoder, SetEncoder, SetEncoding
from sslr_cli.models.decoder import Reconstruction, compose
from sslr_cli.models.fspool import FSPool
from sslr_cli.models.generators import SetRefiner

__all__ = ["ModelConfig", "SetAutoencoder", "SetEncoder", "SetEncoding", "Reconstruction", "compose", "FSPool", "SetRefiner"]
