"""``--compile``: torch.compile for the parts of a model that a generator does not keep eager.

A generator names the submodules that must stay eager (``SetGenerator.eager_submodules``). SSLR-SRN
names its inner loop: ``SetRefiner`` takes ``torch.autograd.grad(..., create_graph=True)`` and the
outer loss differentiates through that gradient, and AOTAutograd, which torch.compile uses for
training, has no double backward (compiling the whole SRN model fails at the first ``.backward()``
with "torch.compile with aot_autograd does not currently support double backward", checked with
torch 2.13 on CPU). So the largest submodules that hold no eager module are compiled: for SSLR-SRN
the trunk, H_set, H_embed and F_reconstruct (the decoder, run on all B*|S| elements, is most of the
cost); SSLR-MLP keeps nothing eager and is compiled whole.

``Module.compile()`` compiles in place, so parameter names (and checkpoints) do not change.
"""

from __future__ import annotations

from torch import nn


def compile_model(model: nn.Module) -> list[str]:
    """Compile, in place, the largest submodules of ``model`` that contain no module a generator
    keeps eager. Returns their qualified names ("" = the whole model).
    """
    eager = eager_modules(model)
    compiled: list[str] = []

    def visit(name: str, module: nn.Module) -> None:
        if id(module) in eager:
            return
        if not any(id(m) in eager for m in module.modules()):
            if any(True for _ in module.parameters()):  # nothing to gain in parameter-free glue
                module.compile()
                compiled.append(name)
            return
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", model)
    return compiled


def eager_modules(model: nn.Module) -> set[int]:
    """ids of the submodules that the generators in ``model`` declare eager."""
    from sslr_cli.models.generator import SetGenerator

    return {id(gen.get_submodule(name)) for gen in model.modules() if isinstance(gen, SetGenerator)
            for name in gen.eager_submodules()}
