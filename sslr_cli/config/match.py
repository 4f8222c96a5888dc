"""The set-matching task's settings (``--task match``; the task itself is ``engine/match_task.py``). They live
in ``RunConfig.extra``; ``sslr train --extra KEY=VALUE`` (= ``--set match.KEY=VALUE``) sets them. They are
here, below the engine, because the ``match-*`` presets are made of them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from sslr_cli.config.parsing import options_from_dict
from sslr_cli.errors import SSLRError

REFERENCE_BATCH = 32  # the reference's set-matching batch
MATCH_COSTS = ("sq", "smooth_l1")  # the Hungarian pair costs (models/matching.py)


@dataclass(frozen=True)
class MatchSettings:
    """Settings of ``--task match`` (``RunConfig.extra``; the task is in ``engine/match_task.py``)."""

    loc_dim: int = 5  # location embedding per element (App. C.1: five dimensions; the reference code: 3)
    att_dim: int = 5  # attribute embedding per element
    match_cost: str = "sq"  # Hungarian cost per element pair: "sq" squared distance, "smooth_l1" (the reference's)
    match_weight: float = 10.0 / REFERENCE_BATCH  # weight of the mean Hungarian matching cost
    recon_weight: float = 0.0  # weight of the pixel-mean reconstruction error of image A; > 0 adds the decoder ("r")
    recon_images: int = 0  # images A per batch the reconstruction term decodes (0 = all, as the reference)
    cnn_lr: float = 1e-5  # learning rate used for --generator cnn unless --lr is given (App. C.2)
    init: str = ""  # the checkpoint --init took weights from (a record; "" = none)

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> "MatchSettings":
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(extra) - set(known))
        if unknown:
            names = ", ".join(k for k in known if k != "init")  # init is a record, set by --init
            raise SSLRError(f"--extra {unknown[0]}: unknown setting for --task match; choose from {names}")
        return options_from_dict(cls, extra, "--extra", "--task match")

    def validate(self) -> "MatchSettings":
        if self.recon_images < 0:
            raise SSLRError(f"--extra recon_images={self.recon_images}: must be >= 0 (0 = the whole batch)")
        if self.match_cost not in MATCH_COSTS:
            raise SSLRError(f"--extra match_cost={self.match_cost!r}: choose one of {', '.join(MATCH_COSTS)}")
        if self.loc_dim < 1 or self.att_dim < 1:
            raise SSLRError(f"--extra loc_dim/att_dim ({self.loc_dim}, {self.att_dim}): must be >= 1")
        for name in ("match_weight", "recon_weight"):
            if getattr(self, name) < 0:
                raise SSLRError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be >= 0")
        if not self.cnn_lr > 0:
            raise SSLRError(f"--extra cnn_lr {self.cnn_lr}: must be > 0")
        return self

    def to_extra(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
