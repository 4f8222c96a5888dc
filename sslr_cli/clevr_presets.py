"""The CLEVR presets (Sec. 4.2, App. B and the reference ``run_reconstruct_clevr.py``).

- ``clevr-paper``: 128x128 input, trunk 64 -> 512 channels (8192 features = 16 elements x 512),
  512-d embedding z, |S| = 16 elements of D = 10, relation-network H_agg (hidden 512, FSPool with
  20 pieces), inner step size 8 and r = 10 iterations (fixed: no switch to 20), decoder from 8x8 to
  128x128 with widths 1024 -> 512 -> 256, Adam 3e-4, batch 32, binary cross-entropy against the
  foreground image (objects on black) while the input is the full image.
- ``clevr-small``: the same structure narrowed for a 2-core CPU (trunk 16 -> 128 channels, decoder
  128 -> 64 -> 32, H_agg hidden 64, z of 64: FSPool sorts z's channels over the 256 pairs in every
  inner step, a large share of a CPU step); Adam 1e-3, batch 16.

Importing this module registers both (``sslr train`` does so for 128px data and for any preset
whose name starts with "clevr").
"""

from __future__ import annotations

from sslr_cli.config import ModelConfig, RunConfig, TrainConfig, register_preset

CLEVR_PAPER = RunConfig(
    "clevr-paper",
    ModelConfig(image_size=128, encoder_width=64, embed_dim=512, set_size=16, element_dim=10, agg="relation",
                agg_hidden=512, fspool_pieces=20, decoder_width=256, inner_steps=10, inner_lr=8.0),
    TrainConfig(batch_size=32, lr=3e-4, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
)

CLEVR_SMALL = RunConfig(
    "clevr-small",
    ModelConfig(image_size=128, encoder_width=16, embed_dim=64, set_size=16, element_dim=10, agg="relation",
                agg_hidden=64, fspool_pieces=20, decoder_width=32, inner_steps=10, inner_lr=8.0),
    TrainConfig(batch_size=16, lr=1e-3, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
)

register_preset("clevr-paper", CLEVR_PAPER)
register_preset("clevr-small", CLEVR_SMALL)
