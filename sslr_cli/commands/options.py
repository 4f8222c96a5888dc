"""Every option of the commands, declared once: those they share and each command's own.

Each alias is ``Annotated[type, typer.Option(...)]``: a command declares ``set_size: SetSize = None`` (the
default, where an option has one, is the command's). The ``rich_help_panel`` groups a command's help. An
option of `sslr train` whose parameter is named like a field of ``ModelConfig`` or ``TrainConfig`` sets that
field (``commands/train.py`` maps them by name; ranges are checked by the dataclasses alone); ``--set
SECTION.FIELD=VALUE`` sets any field. The numbers of the analysis commands, reproduce and gen-data have their
ranges here too (``check_ranges``), checked by one function; the settings of the data gen-data makes are checked
by the data's own specs (``CircleSpec``, ``ClevrSpec``). The root's ``--version`` is here too.

No heavy import here: the CLI's help must answer at once.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, List, Mapping, Optional

import typer

from sslr_cli.config import PRESETS
from sslr_cli.data.multi_object import DATASETS as MULTI_OBJECT_DATASETS
from sslr_cli.errors import SSLRError
from sslr_cli.models.registry import GENERATORS, generator_help
from sslr_cli.reproduce.experiments import groups

DATA, MODEL, SRN, TRAINING, SCHEDULE, CURVES, CHECKPOINTS, DEVICES, OUTPUT = (
    "Data", "Model", "SRN refinement", "Training", "Schedule", "Evaluation curves", "Checkpoints", "Devices", "Output")
EVALUATION, FIGURE, CIRCLE, TSNE, PLAN = "Evaluation", "Figure", "The circle", "t-SNE", "Plan"
DATASET, IMPORT = "Dataset", "Import"

# ---- shared by several commands -------------------------------------------------------------------------------
DeviceOption = Annotated[str, typer.Option("--device", help="auto (CUDA when available), cpu or cuda.",
                                           rich_help_panel=DEVICES)]
Threads = Annotated[Optional[int], typer.Option(  # its range: engine/threads.py, which also reads $SSLR_THREADS
    "--threads", rich_help_panel=DEVICES, show_default=False,
    help="CPU threads for computing (default: $SSLR_THREADS, else $OMP_NUM_THREADS, else one fewer than the cores, "
         "at least 1, so that other work on a core slows it instead of stalling it; a resumed training: the count its "
         "checkpoint was written with; sslr reproduce: each training process's, default the cores / --jobs).")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.", rich_help_panel=OUTPUT)]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the results as JSON.", rich_help_panel=OUTPUT)]
Overwrite = Annotated[bool, typer.Option(
    "--force", rich_help_panel=OUTPUT, help="Overwrite an existing output (figure, embeddings file, exported file).")]
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
         "graph and replay it; --task reconstruct, one process, bf16 or fp32, not with --compile (SRN at r = 20 on "
         "an H200: 107 -> 67 ms per step in fp32; docs/multi-gpu.md).")]
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

# ---- the analysis commands: reconstruct, interpolate, tsne, iou, match --------------------------------------------
Checkpoints = Annotated[List[Path], typer.Argument(
    help="Checkpoint files or run directories (best.pt is used).", show_default=False)]
ReconstructInputs = Annotated[List[Path], typer.Argument(
    help="Checkpoint files or run directories (best.pt is used); with --curve: run directories, metrics.jsonl files "
         "or claim.py logs (studies/cpu-presets).", show_default=False)]
MatchCheckpoints = Annotated[List[Path], typer.Argument(
    help="Matching checkpoints or run directories (from 'sslr train --task match').", show_default=False)]
CirclesData = Annotated[Optional[List[Path]], typer.Option(
    "--data", "-d", dir_okay=False, rich_help_panel=DATA,
    help="Circles dataset(s) with counts and masks; repeat for one file per count (gen-data circles --count K).")]
ClevrData = Annotated[Path, typer.Option(
    "--data", "-d", dir_okay=False, rich_help_panel=DATA, show_default=False,
    help="A clevr dataset (gen-data clevr, rendered or imported).")]
PairsData = Annotated[Path, typer.Option(
    "--data", "-d", dir_okay=False, rich_help_panel=DATA, show_default=False,
    help="Iso-circles test pairs (HDF5 from 'sslr gen-data isocircles').")]
Limit = Annotated[Optional[int], typer.Option(
    "--limit", rich_help_panel=DATA, help="Evaluate only the first N images (match: pairs) of each --data file.")]
EvalBatchSize = Annotated[int, typer.Option(
    "--batch-size", "-b", rich_help_panel=EVALUATION, help="Images per forward pass.")]
PairBatchSize = Annotated[int, typer.Option(
    "--batch-size", "-b", rich_help_panel=EVALUATION,
    help="Pairs per batch; the L2 error is a per-batch sum (the paper's code: 32).")]
Figure = Annotated[Optional[Path], typer.Option(
    "--figure", dir_okay=False, rich_help_panel=FIGURE,
    help="Figure file (default, in --out-dir: reconstruct.png, or curve.png with --curve; interpolate-<mode>.png; "
         "tsne-<dims>d.png).")]
OutDir = Annotated[Path, typer.Option("--out-dir", rich_help_panel=FIGURE, help="Folder for the default figure name.")]
NoFigure = Annotated[bool, typer.Option("--no-figure", rich_help_panel=FIGURE, help="Print the table only.")]

# sslr reconstruct
Curve = Annotated[bool, typer.Option(
    "--curve", rich_help_panel=EVALUATION,
    help="Learning curves instead: plot (--figure, default <out-dir>/curve.png; --samples 0 = none) and tabulate the "
         "eval lines of 'sslr train --eval-every' runs, rate against steps and minutes, at --threshold 0.1 or 0.5.")]
ElementThreshold = Annotated[float, typer.Option(
    "--threshold", rich_help_panel=EVALUATION,
    help="An element is non-empty when a value of its weighted image exceeds this (the paper: 0.1).")]
ByRadius = Annotated[bool, typer.Option(
    "--by-radius", rich_help_panel=EVALUATION,
    help="Also: why images are not disentangled (too few / too many elements) per count, one circle by radius, "
         "and SRN's refinement by radius.")]
Samples = Annotated[int, typer.Option(
    "--samples", rich_help_panel=FIGURE, help="Images in the decomposition figure (0 = no figure).")]
FigureSeed = Annotated[int, typer.Option(
    "--seed", rich_help_panel=FIGURE, help="Which images the figure shows (random, seeded).")]

# sslr interpolate
Mode = Annotated[str, typer.Option(
    "--mode", "-m", rich_help_panel=EVALUATION,
    help="shift: move a circle 1 px per frame (Fig. 2); latent: walk from an empty element to a circle element "
         "(Fig. 4).")]
Frames = Annotated[int, typer.Option(
    "--frames", rich_help_panel=EVALUATION, help="shift: number of frames (the circle moves frames-1 pixels).")]
Steps = Annotated[int, typer.Option(
    "--steps", rich_help_panel=EVALUATION, help="latent: interpolation points, end points included.")]
ShiftThreshold = Annotated[float, typer.Option(
    "--threshold", rich_help_panel=EVALUATION,
    help="shift: an element is responsible when its weighted image exceeds this on the circle.")]
PixelThreshold = Annotated[float, typer.Option(
    "--pixel-threshold", rich_help_panel=EVALUATION, help="latent: a decoded pixel is drawn when a channel exceeds this.")]
CircleElement = Annotated[Optional[int], typer.Option(
    "--circle-element", rich_help_panel=EVALUATION,
    help="latent: index of the circle element (default: the one drawing the circle).")]
EmptyElement = Annotated[Optional[int], typer.Option(
    "--empty-element", rich_help_panel=EVALUATION,
    help="latent: index of the empty element (default: the emptiest decoded element).")]
Color = Annotated[str, typer.Option("--color", rich_help_panel=CIRCLE, help="Circle colour: green (the paper) or red.")]
Radius = Annotated[int, typer.Option("--radius", rich_help_panel=CIRCLE, help="Circle radius in pixels.")]
CentreX = Annotated[Optional[int], typer.Option(
    "--x", rich_help_panel=CIRCLE, help="Circle centre x, of the first frame in shift mode (default: centred).")]
CentreY = Annotated[Optional[int], typer.Option("--y", rich_help_panel=CIRCLE, help="Circle centre y (default: centred).")]

# sslr tsne
Dims = Annotated[int, typer.Option(
    "--dims", rich_help_panel=TSNE, help="2 (Fig. 5: by x, y, colour) or 3 (Fig. 6: also by radius).")]
Grid = Annotated[int, typer.Option(
    "--grid", rich_help_panel=TSNE, help="Positions per axis; images = grid^2 x radii x 2 colours.")]
Radii = Annotated[Optional[str], typer.Option(
    "--radii", rich_help_panel=TSNE, help="Comma-separated radii (default: 6 in 2-D, 3,6,9 in 3-D).")]
TsneSeed = Annotated[int, typer.Option("--seed", rich_help_panel=TSNE, help="t-SNE and cross-validation seed.")]
Embeddings = Annotated[Optional[Path], typer.Option(
    "--embeddings", dir_okay=False, rich_help_panel=OUTPUT,
    help="Write elements and embeddings to this HDF5 file (one per checkpoint: <stem>-<label>.h5 for several).")]

# sslr iou
PerObjectMode = Annotated[str, typer.Option(
    "--per-object-mode", rich_help_panel=EVALUATION,
    help="authors (default, the authors' code behind Table 2): each padded GT slot -> its best element; elements "
         "(alternative, App. B.2's text): each non-empty element -> its closest GT box.")]
OverallMode = Annotated[str, typer.Option(
    "--overall-mode", rich_help_panel=EVALUATION,
    help="channels (default, the authors' code): threshold each channel, count over (C, H, W); pixels (alternative, "
         "App. B.2's text): a pixel is on when any channel is.")]
Boxes = Annotated[str, typer.Option(
    "--boxes", rich_help_panel=EVALUATION,
    help="Ground-truth boxes: amodal (default, the paper's: whole objects, occluded parts too) or visible (visible "
         "pixels only).")]
PixelOnThreshold = Annotated[float, typer.Option(
    "--threshold", rich_help_panel=EVALUATION, help="A pixel is on when any channel is >= this (the paper: 0.01).")]

# sslr match
Breakdown = Annotated[bool, typer.Option(
    "--breakdown", rich_help_panel=EVALUATION,
    help="Also: relative error and per-pair L2 by fifth of the pairs sorted by target distance.")]

# The ranges of the analysis commands', reproduce's and gen-data's numbers, checked by ``check_ranges`` alone (a
# training option's range is its config field's; the data a gen-data command makes checks its own settings, as
# CircleSpec and ClevrSpec do, and may ask more: isocircles' --count >= 1, clevr's --max-objects >= --min-objects)
AT_LEAST = {"--batch-size": 1, "--limit": 1, "--samples": 0, "--jobs": 1, "--n": 1, "--count": 0, "--skip": 0,
            "--max-objects": 0}
FRACTIONS = ("--threshold", "--pixel-threshold")  # open interval (0, 1)


def check_ranges(given: Mapping[str, Any]) -> None:
    """``{"--option": value}``: a value outside its option's range is an error naming it (None: not given)."""
    for option, value in given.items():
        if option not in AT_LEAST and option not in FRACTIONS:
            raise KeyError(f"{option}: no range declared in commands/options.py")
        if value is None:
            continue
        if option in FRACTIONS and not 0.0 < value < 1.0:
            raise SSLRError(f"{option} {value}: must be in (0, 1)")
        if option in AT_LEAST and value < AT_LEAST[option]:
            raise SSLRError(f"{option} {value}: must be >= {AT_LEAST[option]}")

# ---- sslr reproduce -------------------------------------------------------------------------------------------------
ReproduceOut = Annotated[Path, typer.Argument(
    help="Folder for data, runs, figures and the report (reused: the run continues there).", file_okay=False,
    show_default=False)]
Scale = Annotated[str, typer.Option(
    "--scale", "-s", rich_help_panel=PLAN,
    help="demo (minutes), tiny (about 1.5 hours), small (hours) on a CPU; paper (the paper's settings, a GPU).")]
Only = Annotated[Optional[str], typer.Option(
    "--only", rich_help_panel=PLAN,
    help=f"Comma-separated subset of {','.join(groups())} (plus the stages they need).")]
ReproduceSeeds = Annotated[Optional[int], typer.Option(
    "--seeds", rich_help_panel=PLAN, help="Training seeds per model for Table 1 and Table 3 (default: the scale's).")]
Jobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", rich_help_panel=DEVICES,
    help="Training stages side by side, one process each (default: one per GPU on several GPUs; 2 on a CPU scale "
         "with 2+ cores; else 1).")]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", rich_help_panel=PLAN, help="Print the stages as `sslr` commands and exit.")]
ReportOnly = Annotated[bool, typer.Option(
    "--report-only", rich_help_panel=PLAN, help="Rewrite the report from what OUT holds, run nothing.")]
ClevrDir = Annotated[Optional[Path], typer.Option(
    "--clevr", file_okay=False, rich_help_panel=PLAN,
    help="Table 2 on the real CLEVR: a CLEVR_v1.0-layout folder (imported by 'sslr gen-data clevr --from'; "
         "default: rendered CLEVR-style scenes).")]
PlanFormat = Annotated[str, typer.Option(
    "--format", rich_help_panel=PLAN,
    help="With --dry-run: text (the commands, default) or sbatch (a SLURM script: one job per stage, each after "
         "the stages it needs, then the report).")]
OneStage = Annotated[Optional[str], typer.Option(
    "--stage", rich_help_panel=PLAN,
    help="Run only this stage of the plan (its needs must be done): what each job of --format sbatch runs.")]
StartOver = Annotated[bool, typer.Option(
    "--force", rich_help_panel=PLAN, help="Start over in an OUT that holds a reproduction with other settings.")]

# ---- sslr export ------------------------------------------------------------------------------------------------------
ExportItems = Annotated[List[str], typer.Argument(
    metavar="RUN | tensorboard RUN...", show_default=False,
    help="A run directory or checkpoint with --to; or 'tensorboard' followed by run directories (an 'sslr reproduce' "
         "folder counts as all the runs in it).")]
To = Annotated[Optional[Path], typer.Option(
    "--to", dir_okay=False, rich_help_panel=OUTPUT, help="The .safetensors file to write the weights to.")]
Logdir = Annotated[Optional[Path], typer.Option(
    "--logdir", file_okay=False, rich_help_panel=OUTPUT,
    help="tensorboard: write each run's events to LOGDIR/<run name> (a run found inside a folder: its path below the "
         "folder; default: RUN/tensorboard).")]

# ---- data generation: sslr gen-data circles, isocircles, clevr, import-multi-object -------------------------------------
DatasetOut = Annotated[Path, typer.Argument(help="Output HDF5 file.", dir_okay=False, show_default=False)]
Images = Annotated[Optional[int], typer.Option(
    "--n", rich_help_panel=DATASET,
    help="Number of images (isocircles: image pairs; clevr: default 10000, not with --from, which takes --limit). "
         "The paper: 64000 train and 4000 test, two files with different seeds.")]
DataSeed = Annotated[int, typer.Option(
    "--seed", rich_help_panel=DATASET,
    help="Random seed; the same seed gives identical data (circles, isocircles: byte-identical images).")]
ImageSide = Annotated[int, typer.Option(
    "--size", rich_help_panel=DATASET, help="Image side in pixels (the paper: 64 for circles, 128 for CLEVR).")]
OverwriteDataset = Annotated[bool, typer.Option(
    "--force", rich_help_panel=OUTPUT, help="Overwrite an existing output file.")]

# circles, isocircles
CircleCount = Annotated[Optional[int], typer.Option(
    "--count", rich_help_panel=DATASET,
    help="Exactly this many circles per image (Table 1 uses 1000 images for each of 1..5).")]
MinCount = Annotated[Optional[int], typer.Option(
    "--min-count", rich_help_panel=DATASET, help="Fewest circles per image (default 0).")]
MaxCount = Annotated[Optional[int], typer.Option(
    "--max-count", rich_help_panel=DATASET, help="Most circles per image (default 10).")]
PairCount = Annotated[int, typer.Option("--count", rich_help_panel=DATASET, help="Circles per image (the paper: 2).")]
MinRadius = Annotated[int, typer.Option("--min-radius", rich_help_panel=DATASET, help="Smallest radius in pixels.")]
MaxRadius = Annotated[int, typer.Option("--max-radius", rich_help_panel=DATASET, help="Largest radius in pixels.")]

# clevr
MinObjects = Annotated[Optional[int], typer.Option(
    "--min-objects", rich_help_panel=DATASET, help="Fewest objects per scene (default: 3, as CLEVR).")]
MaxObjects = Annotated[Optional[int], typer.Option(
    "--max-objects", rich_help_panel=DATASET, help="Most objects per scene (default: 10, as CLEVR).")]
ClevrSource = Annotated[Optional[Path], typer.Option(
    "--from", file_okay=False, rich_help_panel=IMPORT, help="Import a CLEVR_v1.0-layout folder instead of rendering.")]
Split = Annotated[str, typer.Option("--split", rich_help_panel=IMPORT, help="With --from: train, val or test.")]
ClevrLimit = Annotated[Optional[int], typer.Option(
    "--limit", rich_help_panel=IMPORT, help="With --from: import only the first N scenes (by image index).")]
NoForeground = Annotated[bool, typer.Option(
    "--no-foreground", rich_help_panel=IMPORT,
    help="With --from: import images that have neither a _foreground.png nor a _mask.png (no training target: the "
         "file scores per-object IoU only).")]

# import-multi-object
*_others, _last = MULTI_OBJECT_DATASETS
TfRecord = Annotated[Path, typer.Argument(
    help="A TFRecord file of the dataset (e.g. clevr_with_masks_train.tfrecords; GZIP-compressed as released, or not).",
    dir_okay=False, show_default=False)]
MultiObjectDataset = Annotated[str, typer.Option(
    "--dataset", rich_help_panel=IMPORT, show_default=False,
    help=f"Which dataset the file holds: {', '.join(_others)} or {_last} (the variant, e.g. Multi-dSprites' "
         "colored_on_grayscale, is read from the file).")]
ImportSide = Annotated[Optional[int], typer.Option(
    "--size", rich_help_panel=IMPORT,
    help="Output image side (default: 128 for clevr_with_masks, after its 192x192 centre crop; 64 for the others, "
         "Tetrominoes' 35 px scaled up).")]
KeepMaxObjects = Annotated[Optional[int], typer.Option(
    "--max-objects", rich_help_panel=IMPORT,
    help="Keep scenes with at most this many objects (default: 6 for clevr_with_masks, i.e. CLEVR6; none for the "
         "others; 0 = keep all).")]
ImportLimit = Annotated[Optional[int], typer.Option(
    "--limit", rich_help_panel=IMPORT, help="Stop after this many kept scenes.")]
Skip = Annotated[int, typer.Option(
    "--skip", rich_help_panel=IMPORT,
    help="Leave out the first N scenes (of those --max-objects keeps): --limit 320 for a test file, then --skip 320 "
         "for the training file.")]


# ---- the root: sslr --version -------------------------------------------------------------------------------------------
def _print_version(value: bool) -> None:
    if value:
        from sslr_cli.engine.environment import version_line

        typer.echo(version_line())
        raise typer.Exit()


Version = Annotated[Optional[bool], typer.Option(
    "--version", callback=_print_version, is_eager=True, help="Show the version and exit.")]
