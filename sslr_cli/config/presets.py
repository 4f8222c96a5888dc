"""Every named preset, in ``PRESETS`` (nothing is registered elsewhere):

- ``paper``: the paper's circles architecture and training, for a GPU (App. A; the reference code's
  |S| = 16, D = 10, r = 10 -> 20 at epoch 20, Adam 3e-4, batch 64, summed squared error).
- ``small`` / ``tiny``: narrower models for a 2-core CPU, sized by measurement (docs/presets.md).
- ``clevr-paper`` / ``clevr-small``: the CLEVR variant (App. B) at 128x128; ``clevr-tiny`` at 64x64.
- ``match-paper`` / ``match-small`` / ``match-tiny``: the set-matching task (App. C), with the widths of
  ``paper`` / ``small`` / ``tiny``, so SSLR-SRN (r + init) starts from a circles run of that preset.
- ``multi-object-tiny`` / ``multi-object-paper``, ``clevr6-tiny`` / ``clevr6-paper``: DeepMind's multi-object
  datasets (``sslr gen-data import-multi-object``; docs/multi-object.md) for SRN, MLP and Slot Attention alike.
"""

from __future__ import annotations

from sslr_cli.config.match import REFERENCE_BATCH, MatchSettings
from sslr_cli.config.schemas import ModelConfig, RunConfig, TrainConfig
from sslr_cli.errors import SSLRError

_MATCH_TRAIN = dict(task="match", batch_size=REFERENCE_BATCH, lr=5e-4, optimizer="rmsprop", late_epoch=-1)
_MATCH_CPU_TRAIN = {**_MATCH_TRAIN, "lr": 2e-3, "epochs": 60}
# CPU: each model at the better of the rates tried in 1000 steps (studies/table3-cpu), r + init
# decoding 4 of the 32 images A per step (the decoder is most of a CPU step). match-X has the widths of the
# circles preset X, so `--init` from an X reconstruction run copies every weight of G and the decoder.
_MATCH_CPU_EXTRA = MatchSettings(recon_images=4, cnn_lr=5e-4).to_extra()
_TINY_WIDTHS = dict(encoder_width=16, decoder_width=32, agg_hidden=128, embed_dim=64)
_SMALL_WIDTHS = dict(encoder_width=32, decoder_width=64, agg_hidden=256)
_MATCH_TINY = dict(**_TINY_WIDTHS, inner_steps=5)
_MATCH_SMALL = dict(**_SMALL_WIDTHS, inner_steps=5)

PRESETS: dict[str, RunConfig] = {
    "paper": RunConfig("paper", ModelConfig(), TrainConfig()),
    # CPU presets, sized by measurement: why each value, docs/presets.md (studies/cpu-presets).
    "small": RunConfig(
        "small",
        ModelConfig(**_SMALL_WIDTHS),
        TrainConfig(batch_size=32, lr=6e-3, late_epoch=-1, precision="bf16"),
    ),
    # tiny: --inner-grad truncated:3, the most circles per CPU minute (docs/presets.md, studies/inner-grad).
    "tiny": RunConfig(
        "tiny",
        ModelConfig(**_TINY_WIDTHS, inner_grad="truncated:3"),
        TrainConfig(batch_size=32, lr=1e-2, late_epoch=-1, precision="bf16"),
    ),
    # CLEVR (Sec. 4.2, App. B, the reference run_reconstruct_clevr.py): 128x128 input, trunk 64 -> 512
    # channels (8192 features = 16 elements x 512), 512-d z, |S| = 16 x D = 10, relation-network H_agg
    # (hidden 512, FSPool 20 pieces), inner step 8, r = 10 (no switch to 20), decoder 1024 -> 512 -> 256,
    # Adam 3e-4, batch 32, binary cross-entropy against the foreground (objects on black) while the
    # input is the full image.
    "clevr-paper": RunConfig(
        "clevr-paper",
        ModelConfig(image_size=128, encoder_width=64, embed_dim=512, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=512, fspool_pieces=20, decoder_width=256, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=32, lr=3e-4, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
    ),
    # the same narrowed for a 2-core CPU (trunk 16 -> 128, decoder 128 -> 64 -> 32, H_agg hidden 64, z of
    # 64: FSPool sorts z's channels over the 256 pairs in every inner step, a large share of a CPU step)
    "clevr-small": RunConfig(
        "clevr-small",
        ModelConfig(image_size=128, encoder_width=16, embed_dim=64, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=64, fspool_pieces=20, decoder_width=32, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=16, lr=1e-3, optimizer="adam", loss="bce", target="foreground", late_epoch=-1),
    ),
    # 64x64 renders (CLEVR's frame at half the paper's side; objects keep CLEVR's apparent size, a small
    # one about 5 x 7 pixels), clevr-small's widths, bf16, batch 32, Adam 2e-3; sized by single-thread CPU
    # step time (studies/table2-cpu: SRN 0.58 s, MLP 0.21 s)
    "clevr-tiny": RunConfig(
        "clevr-tiny",
        ModelConfig(image_size=64, encoder_width=16, embed_dim=64, set_size=16, element_dim=10, agg="relation",
                    agg_hidden=64, fspool_pieces=20, decoder_width=32, inner_steps=10, inner_lr=8.0),
        TrainConfig(batch_size=32, lr=2e-3, optimizer="adam", loss="bce", target="foreground", late_epoch=-1,
                    precision="bf16"),
    ),
    # Set matching: App. A's architecture, App. C.2's training (RMSprop 5e-4, batch 32, r = 5, step 0.1,
    # momentum 0.5, about 60 epochs). The CPU presets were sized by single-thread CPU step times
    # and learning curves (studies/table3-cpu) to a step budget;
    # "SSLR-SRN (r + init)" starts (--init) from the circles SRN of the same-named preset.
    "match-paper": RunConfig("match-paper", ModelConfig(inner_steps=5), TrainConfig(epochs=60, **_MATCH_TRAIN),
                             MatchSettings().to_extra()),
    "match-small": RunConfig("match-small", ModelConfig(**_MATCH_SMALL),
                             TrainConfig(max_steps=6000, **_MATCH_CPU_TRAIN), _MATCH_CPU_EXTRA),
    "match-tiny": RunConfig("match-tiny", ModelConfig(**_MATCH_TINY),
                            TrainConfig(max_steps=3000, **_MATCH_CPU_TRAIN), _MATCH_CPU_EXTRA),
    # DeepMind's multi-object datasets (`sslr gen-data import-multi-object`, docs/multi-object.md): the whole image
    # reconstructed with summed squared error, as Slot Attention's object discovery does. |S| = 8 covers CLEVR6's 7
    # entities and Multi-dSprites' 6 (H_set needs a power of two here; Tetrominoes: --set-size 4). The paper scale
    # takes Slot Attention's schedule (batch 64, Adam 4e-4, 10k warm-up steps, 500k steps; a cosine decay where
    # it halves the rate every 100k) with this paper's widths; the tiny ones take tiny's / clevr-tiny's widths
    # for a CPU. Not yet measured on the real files (they cannot be downloaded on the machines this was built on).
    "multi-object-tiny": RunConfig(
        "multi-object-tiny", ModelConfig(**_TINY_WIDTHS, set_size=8, inner_grad="truncated:3"),
        TrainConfig(batch_size=32, lr=2e-3, late_epoch=-1, precision="bf16")),
    "multi-object-paper": RunConfig(
        "multi-object-paper", ModelConfig(set_size=8),
        TrainConfig(batch_size=64, lr=4e-4, late_epoch=-1, lr_schedule="cosine", warmup_steps=10_000,
                    max_steps=500_000, epochs=10_000)),
    "clevr6-tiny": RunConfig(
        "clevr6-tiny", ModelConfig(image_size=64, encoder_width=16, embed_dim=64, set_size=8, element_dim=10,
                                   agg="relation", agg_hidden=64, decoder_width=32, inner_lr=8.0),
        TrainConfig(batch_size=32, lr=2e-3, late_epoch=-1, precision="bf16")),
    "clevr6-paper": RunConfig(
        "clevr6-paper", ModelConfig(image_size=128, embed_dim=512, set_size=8, agg="relation", inner_lr=8.0),
        TrainConfig(batch_size=64, lr=4e-4, late_epoch=-1, lr_schedule="cosine", warmup_steps=10_000,
                    max_steps=500_000, epochs=10_000)),
}


def get_preset(name: str) -> RunConfig:
    """A preset by name (every preset is in ``PRESETS``)."""
    if name not in PRESETS:
        raise SSLRError(f"--preset {name!r}: unknown; choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]
