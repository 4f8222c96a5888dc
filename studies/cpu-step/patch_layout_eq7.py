"""A tried and rejected lever: F's last transposed convolution as a matmul, with Eq. 7 computed in the matmul's
"patch" layout (B, |S|, 3, 4, 4, 16, 16) so that only the (B, 3, 64, 64) image is permuted, not the element
images. Same forward values (the first loss is equal); SRN, one thread, paired rounds as levers.py.

    python studies/cpu-step/patch_layout_eq7.py > studies/cpu-step/results/lever-patch-layout-eq7.txt
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import levers  # noqa: E402  (sets one thread)

from sslr_cli.models.decoder import Reconstruction  # noqa: E402


def decode_patched(self, s: torch.Tensor) -> Reconstruction:
    b, n, d = s.shape
    dec = self.decoder
    h = torch.relu(dec.norm0(dec.proj(s.reshape(b * n, d))))
    h = dec.up[:-1](h.view(-1, dec.channels, dec.start, dec.start))
    m, c, hh, ww = h.shape
    weight = dec.up[-1].weight
    _, o, k, _ = weight.shape
    y = torch.matmul(weight.reshape(c, o * k * k).t(), h.reshape(m, c, hh * ww)).view(b, n, o, k, k, hh, ww)
    weighted = torch.softmax(y, dim=1) * torch.sigmoid(y)
    image = weighted.sum(dim=1).permute(0, 1, 4, 2, 5, 3).reshape(b, o, hh * k, ww * k).clamp(0.0, 1.0)
    return Reconstruction(image, weighted)  # element_images in patch layout: enough for the training loss


def main() -> None:
    for preset in ("tiny", "small"):
        plain, fast = levers.build(preset, "srn"), levers.build(preset, "srn")
        plain[1].decoder.patch_last_layer = False  # the plain layer, as when this was measured
        fast[1].decode = types.MethodType(decode_patched, fast[1])
        batch = {"images": torch.randint(0, 256, (32, 64, 64, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))}
        _, a = levers.step(*plain, batch)
        _, b = levers.step(*fast, batch)
        tp, tf = [], []
        for _ in range(11):
            tp.append(levers.step(*plain, batch)[0])
            tf.append(levers.step(*fast, batch)[0])
        q = levers.paired(np.asarray(tf) / np.asarray(tp))
        print(f"{preset} srn: plain {np.median(tp):.4f} s, patch layout {np.median(tf):.4f} s, ratio {q['median']:.3f} "
              f"({q['ci95'][0]:.3f}-{q['ci95'][1]:.3f}), {q['rounds']} rounds; first loss {a:.6g} / {b:.6g}", flush=True)


if __name__ == "__main__":
    main()
