"""Every option the commands share or that `sslr train` maps onto the run's config, declared once.

Each alias is ``Annotated[type, typer.Option(...)]``: a command declares ``set_size: SetSize = None``. The
``rich_help_panel`` groups `sslr train --help`. An option of `sslr train` whose parameter is named like a
field of ``ModelConfig`` or ``TrainConfig`` sets that field (``commands/train.py`` maps them by name; ranges
are checked by the dataclasses alone); ``--set SECTION.FIELD=VALUE`` sets any field.

No heavy import here: the CLI's help must answer at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from sslr_cli.config import PRESETS
from sslr_cli.models.registry import GENERATORS, generator_help

DATA, MODEL, SRN, TRAINING, SCHEDULE, CURVES, CHECKPOINTS, DEVICES, OUTPUT = (
    "Data", "Model", "SRN refinement", "Training", "Schedule", "Evaluation curves", "Checkpoints", "Devices", "Output")

# ---- shared by several commands -------------------------------------------------------------------------------
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu or cuda.",
                                           rich_help_panel=DEVICES)]
Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1, rich_help_panel=DEVICES,
    help="CPU threads for computing (default: $SSLR_THREADS, else torch's default).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=OUTPUT)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the results as JSON.", rich_help_panel=OUTPUT)]
InnerStepsOption = Annotated[Optional[int], typer.Option(
    "--inner-steps", "-r", rich_help_panel=SRN,
    help="r, SSLR-SRN's refinement steps. train: r from the first epoch (until --late-epoch). reconstruct, "
         "interpolate, tsne, iou: the r to evaluate at (default: the r in force at the checkpoint: a finished run "
         "whose schedule moves r to --late-inner-steps is evaluated at that r, as the paper does).")]

# ---- sslr train: data -------------------------------------------------------------------------------------------
TrainData = Annotated[Path, typer.Argument(help="Training dataset (HDF5 from 'sslr gen-data').", dir_okay=False,
                                           show_default=False)]
Val = Annotated[Optional[Path], typer.Option(
    "--val", dir_okay=False, rich_help_panel=DATA,
    help="Validation dataset; without it --val-fraction of the training file is held out.")]
ValFraction = Annotated[Optional[float], typer.Option(
    "--val-fraction", rich_help_panel=DATA, help="Fraction held out for validation when no --val is given.")]
Task = Annotated[str, typer.Option("--task", rich_help_panel=DATA, help="reconstruct or match.")]
Preset = Annotated[Optional[str], typer.Option(
    "--preset", "-p", rich_help_panel=DATA,
    help=f"Named settings: {', '.join(PRESETS)} (default: the dataset's: tiny; clevr-small for 128px data, "
         "clevr-tiny for 64px CLEVR; --task match maps X to match-X).")]

# ---- model --------------------------------------------------------------------------------------------------------
Generator = Annotated[Optional[str], typer.Option("--generator", "-g", help=generator_help(), rich_help_panel=MODEL)]
GenOpt = Annotated[Optional[List[str]], typer.Option(
    "--gen-opt", rich_help_panel=MODEL,
    help="A setting of the generator's own, KEY=VALUE (repeatable; = --set generator.KEY=VALUE); "
         + "; ".join(f"{n}: {', '.join(f.name for f in dataclasses.fields(s.options)) or 'none'}"
                     for n, s in GENERATORS.items()) + ".")]
SetSize = Annotated[Optional[int], typer.Option(
    "--set-size", rich_help_panel=MODEL, help="|S|, number of set elements (the paper's code: 16; its text: 32).")]
ElementDim = Annotated[Optional[int], typer.Option(
    "--element-dim", rich_help_panel=MODEL, help="D, dimension of each element (the paper's code: 10; its text: 16).")]
EncoderWidth = Annotated[Optional[int], typer.Option(
    "--encoder-width", rich_help_panel=MODEL, help="Trunk width w (channels w..8w).")]
DecoderWidth = Annotated[Optional[int], typer.Option(
    "--decoder-width", rich_help_panel=MODEL, help="Decoder width w (channels 4w..w).")]
Init = Annotated[Optional[Path], typer.Option(
    "--init", dir_okay=False, rich_help_panel=MODEL, help="Initialise matching weights from this checkpoint.")]
ReconWeight = Annotated[Optional[float], typer.Option(
    "--recon-weight", rich_help_panel=MODEL,
    help="--task match: add the reconstruction loss with this weight (the paper's 'SSLR-SRN (r + init)': 1, "
         "with --init).")]
Extra = Annotated[Optional[List[str]], typer.Option(
    "--extra", rich_help_panel=MODEL,
    help="--task match setting KEY=VALUE (repeatable; = --set match.KEY=VALUE): loc_dim, att_dim (default 5), "
         "match_weight (0.3125), cnn_lr (1e-5).")]
Set = Annotated[Optional[List[str]], typer.Option(
    "--set", rich_help_panel=MODEL,
    help="Any setting, SECTION.FIELD=VALUE (repeatable): sections model and train (config.json's fields), "
         "generator (the generator's own, as --gen-opt) and match (as --extra). An option of its own wins.")]

# ---- SRN refinement -----------------------------------------------------------------------------------------------
InnerLr = Annotated[Optional[float], typer.Option(
    "--inner-lr", rich_help_panel=SRN, help="Step size of the inner gradient descent.")]
LateInnerSteps = Annotated[Optional[int], typer.Option(
    "--late-inner-steps", rich_help_panel=SRN, help="r from --late-epoch on (the paper: 20).")]
LateEpoch = Annotated[Optional[int], typer.Option(
    "--late-epoch", rich_help_panel=SRN, help="Epoch at which r switches to --late-inner-steps (-1 = never).")]
InitMode = Annotated[Optional[str], typer.Option(
    "--init-mode", rich_help_panel=SRN, help="S0 'detached' (the reference code) or 'learned' (the paper's text).")]
InnerGrad = Annotated[Optional[str], typer.Option(
    "--inner-grad", rich_help_panel=SRN,
    help="How SRN's r inner steps are differentiated: unrolled (exact), implicit (iDSPN's one-step approximation: "
         "memory flat in r) or truncated:K (the last K steps).")]
RefinePrecision = Annotated[Optional[str], typer.Option(
    "--refine-precision", rich_help_panel=SRN,
    help="SRN's inner loop in fp32 under bf16 autocast ('fp32') or in the autocast dtype ('autocast').")]

# ---- training -----------------------------------------------------------------------------------------------------
Epochs = Annotated[Optional[int], typer.Option("--epochs", rich_help_panel=TRAINING, help="Number of epochs.")]
MaxMinutes = Annotated[Optional[float], typer.Option(
    "--max-minutes", rich_help_panel=TRAINING, help="Stop cleanly after this many minutes of training (0 = no limit).")]
MaxSteps = Annotated[Optional[int], typer.Option(
    "--max-steps", rich_help_panel=TRAINING,
    help="Stop cleanly once the run has taken this many optimizer steps in all (0 = no limit).")]
BatchSize = Annotated[Optional[int], typer.Option(
    "--batch-size", "-b", rich_help_panel=TRAINING, help="Global batch size (split across ranks under torchrun).")]
Lr = Annotated[Optional[float], typer.Option("--lr", rich_help_panel=TRAINING, help="Learning rate.")]
WeightDecay = Annotated[Optional[float], typer.Option(
    "--weight-decay", rich_help_panel=TRAINING,
    help="Weight decay (default 0; 1e-4 for --task match with --recon-weight > 0, as the paper).")]
Precision = Annotated[Optional[str], typer.Option(
    "--precision", rich_help_panel=TRAINING,
    help="fp32 (strict float32; on a GPU TF32 off), tf32 (TF32 matmuls and convolutions on a GPU), bf16 (autocast) "
         "or fp16 (CUDA only).")]
Seed = Annotated[Optional[int], typer.Option(
    "--seed", rich_help_panel=TRAINING, help="Random seed (same seed, same run on CPU).")]
Seeds = Annotated[Optional[str], typer.Option(
    "--seeds", rich_help_panel=TRAINING,
    help="One run per seed, e.g. 0,1,2, into OUT/seed-K (without --out: runs/<preset>-<generator>-s<K>).")]

# ---- schedule -----------------------------------------------------------------------------------------------------
LrSchedule = Annotated[Optional[str], typer.Option(
    "--lr-schedule", rich_help_panel=SCHEDULE,
    help="constant, or cosine (decay to 0 over --schedule-steps, default --max-steps, else all epochs).")]
WarmupSteps = Annotated[Optional[int], typer.Option(
    "--warmup-steps", rich_help_panel=SCHEDULE, help="Steps of linear learning-rate warm-up.")]
ScheduleSteps = Annotated[Optional[int], typer.Option(
    "--schedule-steps", rich_help_panel=SCHEDULE, help="Steps the cosine decay spans (0 = --max-steps, else all epochs).")]

# ---- evaluation curves ---------------------------------------------------------------------------------------------
EvalEvery = Annotated[Optional[int], typer.Option(
    "--eval-every", rich_help_panel=CURVES,
    help="Every N optimizer steps and at the end, measure Table 1 (threshold 0.1 and 0.5), MSE and ARI on held-out "
         "circles into metrics.jsonl (circles reconstruction runs); evaluation time is not training time "
         "(--max-minutes, elapsed_s). Plot with 'sslr reconstruct --curve'.")]
EvalImages = Annotated[Optional[int], typer.Option(
    "--eval-images", rich_help_panel=CURVES,
    help="--eval-every: held-out images per circle count 1..5, made from fixed seeds, the same for every run "
         "(default 200).")]
EvalData = Annotated[Optional[List[Path]], typer.Option(
    "--eval-data", dir_okay=False, rich_help_panel=CURVES,
    help="--eval-every: held-out circles file(s) instead of generated images (repeatable).")]
KeepEvery = Annotated[Optional[int], typer.Option(
    "--keep-every", rich_help_panel=CURVES, help="Also keep a checkpoint step-NNNNNN.pt every N optimizer steps.")]

# ---- checkpoints ---------------------------------------------------------------------------------------------------
CheckpointMinutes = Annotated[Optional[float], typer.Option(
    "--checkpoint-minutes", rich_help_panel=CHECKPOINTS,
    help="Rewrite last.pt mid-epoch every this many minutes (default 10; 0 = at epoch ends only).")]
CheckpointSteps = Annotated[Optional[int], typer.Option(
    "--checkpoint-steps", rich_help_panel=CHECKPOINTS,
    help="Also rewrite last.pt every this many optimizer steps (0 = not by steps).")]
Resume = Annotated[bool, typer.Option(
    "--resume", rich_help_panel=CHECKPOINTS, help="Continue the run in --out from its last.pt (exactly, on CPU).")]
Force = Annotated[bool, typer.Option("--force", rich_help_panel=CHECKPOINTS, help="Start over in a non-empty --out.")]

# ---- devices --------------------------------------------------------------------------------------------------------
Compile = Annotated[Optional[bool], typer.Option(
    "--compile/--no-compile", rich_help_panel=DEVICES,
    help="torch.compile the model outside SRN's inner loop (opt-in; mainly for CUDA).")]
CudaGraphs = Annotated[Optional[bool], typer.Option(
    "--cuda-graphs", rich_help_panel=DEVICES,
    help="CUDA only: capture the training step (forward with SRN's inner loop, backward, optimizer step) in a CUDA "
         "graph and replay it; --task reconstruct, one process, bf16 or fp32, not with --compile. Untested on a GPU "
         "so far (see README).")]
SyncBn = Annotated[Optional[bool], typer.Option(
    "--sync-bn/--no-sync-bn", rich_help_panel=DEVICES,
    help="Under torchrun: batch-norm statistics over the global batch (default) or per rank.")]

# ---- output ---------------------------------------------------------------------------------------------------------
Out = Annotated[Optional[Path], typer.Option(
    "--out", "-o", rich_help_panel=OUTPUT, help="Run directory (default: runs/<preset>-<generator>-s<seed>).")]
PrintConfig = Annotated[bool, typer.Option(
    "--print-config", rich_help_panel=OUTPUT,
    help="Print the run's resolved config (config.json as it would be written; with --resume: the checkpoint's) "
         "and exit.")]
Log = Annotated[Optional[List[str]], typer.Option(
    "--log", rich_help_panel="Evaluation curves", help="Also mirror every metrics.jsonl line (and, at each --eval-every evaluation, a "
    "figure of reconstructions) to TensorBoard: --log tensorboard (events in the run's tensorboard folder; an optional "
    "extra: pip install 'sslr-cli[tensorboard]').")]
