"""``--compile``: torch.compile for the parts of a model outside SSLR-SRN's inner loop.

The inner loop (``SetRefiner``) takes ``torch.autograd.grad(..., create_graph=True)`` and the outer
loss differentiates through that gradient. AOTAutograd, which torch.compile uses for training, has
no double backward: compiling the whole SRN model fails at the first ``.backward()`` with
"torch.compile with aot_autograd does not currently support double backward" (checked with torch
2.13 on CPU). So the largest submodules that hold no ``SetRefiner`` are compiled, and the inner loop
stays eager: for SSLR-SRN that is the trunk, H_set, H_embed and F_reconstruct (the decoder, run on
all B*|S| elements, is most of the cost); SSLR-MLP has no refiner and is compiled whole.

``Module.compile()`` compiles in place, so parameter names (and checkpoints) do not change.
"""

from __future__ import annotations

from torch import nn


def compile_model(model: nn.Module) -> list[str]:
    """Compile, in place, the largest submodules of ``model`` that contain no ``SetRefiner``.

    Returns their qualified names ("" = the whole model).
    """
    from sslr_cli.models.generators import SetRefiner

    compiled: list[str] = []

    def visit(name: str, module: nn.Module) -> None:
        if isinstance(module, SetRefiner):
            return
        if not any(isinstance(m, SetRefiner) for m in module.modules()):
            if any(True for _ in module.parameters()):  # nothing to gain in parameter-free glue
                module.compile()
                compiled.append(name)
            return
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return compiled
