"""What an experiment builds its stages from: ``PlanContext``.

``build_plan`` makes one per plan and hands it to each experiment of the registry in order. Besides the
settings of the command line (scale, OUT, seeds, device) it carries what earlier experiments made that
later ones build on: ``runs``, training stages by family, one per seed (``runs["circles-srn"][0]`` is the
circles SSLR-SRN of seed 0, which the figures and Table 3's r + init start from).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from sslr_cli.errors import SSLRError
from sslr_cli.reproduce.estimates import EVAL_IMAGE_SECONDS, STEP_SECONDS
from sslr_cli.reproduce.scale import Scale
from sslr_cli.reproduce.stage import Stage


@dataclass
class PlanContext:
    scale: Scale
    out: str  # OUT as the command lines write it, without a trailing slash
    seeds: int  # training seeds per model: --seeds, else the scale's
    seeds_given: bool  # --seeds was given: it then overrides an experiment's own default (seeds_or)
    device: str = "auto"
    clevr: str | None = None  # --clevr: a CLEVR_v1.0-layout folder Table 2 imports (None: rendered scenes)
    gpu: str | None = None  # estimate training times for this GPU (measured step times), not the CPU
    cuda: bool = False  # the plan's trainings run on CUDA here: those graph replay is proven for take --cuda-graphs
    runs: dict[str, list[Stage]] = field(default_factory=dict)  # family -> its training stage per seed

    @classmethod
    def create(cls, scale: Scale, out: str | Path, seeds: int | None, device: str, clevr: str | None = None,
               gpu: str | None = None, cuda: bool = False) -> "PlanContext":
        n_seeds = scale.seeds if seeds is None else seeds
        if n_seeds < 1:
            raise SSLRError(f"--seeds {n_seeds}: must be >= 1")
        return cls(scale, str(out).rstrip("/") or ".", n_seeds, seeds is not None, device, clevr, gpu, cuda)

    def p(self, rel: str) -> str:
        """A path under OUT, as the command lines write it."""
        return f"{self.out}/{rel}"

    @property
    def device_args(self) -> tuple[str, ...]:
        """``--device`` for the commands that load models (nothing for auto)."""
        return () if self.device == "auto" else ("--device", self.device)

    def seeds_or(self, default: int | None) -> int:
        """Seeds for an experiment with a default of its own (Table 3's ``match_seeds``): --seeds wins."""
        return self.seeds if self.seeds_given or default is None else default

    def step_seconds(self, preset: str, model: str) -> float | None:
        """Estimated single-thread CPU seconds per optimizer step of ``model`` at ``preset`` (None: not measured)."""
        return STEP_SECONDS.get((preset, model))

    def eval_image_seconds(self, preset: str, model: str) -> float | None:
        """Estimated seconds per image of a measurement while training (None: not measured; on a GPU always)."""
        return None if self.gpu else EVAL_IMAGE_SECONDS.get((preset, model))

    def train_seconds(self, preset: str, model: str, steps: int, images: int | None, path: str = "eager") -> float | None:
        """Estimated seconds of a training of ``steps`` steps: CPU step times, or with ``gpu`` the measured
        GPU step times of ``path`` ("eager" or "graphs") at the preset's precision and r schedule (its r switch
        after ``late_epoch`` epochs of ``images`` images)."""
        if not self.gpu:
            per = self.step_seconds(preset, model)
            return None if per is None else per * steps
        from sslr_cli.config import PRESETS
        from sslr_cli.reproduce.gpu_times import gpu_train_seconds

        if preset not in PRESETS:
            return None
        cfg = PRESETS[preset]
        late_step = None
        if images and cfg.train.late_epoch >= 0:
            late_step = cfg.train.late_epoch * -(-images // cfg.train.batch_size)
        return gpu_train_seconds(self.gpu, preset, model, steps, cfg.train.precision, cfg.model.inner_steps,
                                 cfg.train.late_inner_steps, late_step, path)

    def graphs_proven(self, preset: str, generator: str, extra: tuple[str, ...]) -> bool:
        """Whether graph replay is proven to train as the eager step does for this training (its preset, generator
        and ``--task``; engine/cuda_graphs.py says where it is)."""
        from sslr_cli.config import PRESETS
        from sslr_cli.engine.cuda_graphs import graphs_proven

        if preset not in PRESETS or set(extra) & {"--precision", "--inner-grad", "--gen-opt", "--set"}:
            return False
        cfg = PRESETS[preset]
        task = extra[extra.index("--task") + 1] if "--task" in extra else cfg.train.task
        return graphs_proven(replace(cfg, model=replace(cfg.model, generator=generator),
                                     train=replace(cfg.train, task=task)))

    def train(self, name: str, group: str, title: str, data: str, run: str, preset: str, generator: str,
              steps: int, seed: int, extra: tuple[str, ...] = (), needs: tuple[str, ...] = (),
              settings: dict | None = None, est_key: tuple[str, str] | None = None,
              images: int | None = None) -> Stage:
        """A training stage: one `sslr train` into ``run`` (its best.pt and last.pt), the scale's extra
        options and the device appended; ``est_key`` = (preset, model) of its step time when not these;
        ``images`` per epoch (where the preset's r switch depends on it). On CUDA, with ``--cuda-graphs`` where
        graph replay is proven for it; a GPU estimate assumes that path (as `sslr reproduce` trains there)."""
        proven = self.graphs_proven(preset, generator, (*extra, *self.scale.extra_train))
        graphs = ("--cuda-graphs",) if proven and self.cuda else ()
        argv = ("train", data, "--preset", preset, "--generator", generator, "--out", run,
                "--max-steps", str(steps), "--seed", str(seed), *extra, *self.scale.extra_train, *graphs,
                *self.device_args)
        est = self.train_seconds(*(est_key or (preset, generator)), steps, images,
                                 "graphs" if proven and (self.cuda or self.gpu) else "eager")
        return Stage(name, group, "train", title, (argv,), (f"{run}/best.pt", f"{run}/last.pt"), needs,
                     {"preset": preset, "generator": generator, "steps": steps, "seed": seed,
                      "precision": self.precision(est_key[0] if est_key else preset), **(settings or {})},
                     parallel=True, est_seconds=est)

    @staticmethod
    def precision(preset: str) -> str | None:
        """The precision a training of ``preset`` computes in (the report names it; "fp32" is strict float32,
        TF32 off on a GPU)."""
        from sslr_cli.config import PRESETS

        return PRESETS[preset].train.precision if preset in PRESETS else None
