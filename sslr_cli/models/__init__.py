"""Pure ``torch.nn`` models: image encoders (H_embed, H_set), set generators G (``registry.GENERATORS``:
SSLR-MLP, SSLR-SRN), set aggregators (H_agg with FSPool) and task heads (F_reconstruct, F_match). No I/O here."""

from sslr_cli.config import ModelConfig
from sslr_cli.models.autoencoder import SetAutoencoder
from sslr_cli.models.decoder import Reconstruction, compose
from sslr_cli.models.fspool import FSPool
from sslr_cli.models.generator import SetEncoding, SetGenerator
from sslr_cli.models.generators import SetRefiner
from sslr_cli.models.registry import GENERATORS, GeneratorSpec, build_generator

__all__ = ["ModelConfig", "SetAutoencoder", "SetGenerator", "SetEncoding", "Reconstruction", "compose", "FSPool",
           "SetRefiner", "GENERATORS", "GeneratorSpec", "build_generator"]
