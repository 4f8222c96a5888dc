"""The `sslr` executable: Typer subcommands over the library. No model or data logic lives here.

Importing it imports no torch, h5py, matplotlib, scipy or scikit-learn: each command imports what it needs
when it runs, so `sslr --help`, `sslr CMD --help` and `sslr --version` answer at once."""

from __future__ import annotations

import sys

import typer

from sslr_cli.commands import gen_data, train
from sslr_cli.commands import interpolate, reconstruct, tsne
from sslr_cli.commands import match, reproduce
from sslr_cli.models.registry import GENERATORS
from sslr_cli.commands import info, iou
from sslr_cli.commands import export
from sslr_cli.commands import options as o

app = typer.Typer(
    name="sslr",
    help="Set-Structured Latent Representations: generate the paper's data, train SSLR-MLP / SSLR-SRN, "
    "and reproduce its tables and figures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(gen_data.app, name="gen-data")  # its subcommands: gen_data.GEN_DATA
app.command("train", help=f"Train {' or '.join(s.label for s in GENERATORS.values())} (reconstruction or set matching) into a run directory.")(train.train_command)
app.command("reconstruct", help="Table 1 (complete disentanglement), ARI, MSE and Fig. 3/8 for reconstruction checkpoints.")(reconstruct.reconstruct_command)
app.command("interpolate", help="Fig. 2 (--mode shift) and Fig. 4 (--mode latent): responsibility and latent interpolation.")(interpolate.interpolate_command)
app.command("tsne", help="Fig. 5/6: t-SNE of the latent elements of one-circle images, with consistency scores.")(tsne.tsne_command)
app.command("match", help="Table 3: evaluate set-matching checkpoints on iso-circle pairs (seeds grouped).")(match.match_command)
app.command("reproduce", help="The whole paper in one command (data, training, Tables 1-3, Fig. 2-7), resumable, with a report.")(reproduce.reproduce_command)
app.command("info", help="Versions, devices, CPU features, the FSPool kernel and the cache folder (for bug reports; --json).")(info.info_command)
app.command("export", help="A run's weights as a pickle-free .safetensors file (--to), or finished runs' metrics as TensorBoard events ('sslr export tensorboard RUN...').")(export.export_command)
app.command("iou", help="Table 2: overall and per-object (Chamfer box) IoU on CLEVR, with ARI, for reconstruction checkpoints; --figure: Fig. 7.")(iou.iou_command)


@app.callback()
def _root(version: o.Version = None) -> None:
    """Set-Structured Latent Representations (SSLR) toolbox."""


def main() -> None:
    import signal

    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit (ulimit -f) a write then fails with EFBIG, which
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # sslr reports in one line, instead of killing the process
    try:
        app(prog_name="sslr")
    except SystemExit as done:
        from sslr_cli.atomic import write_failed

        if write_failed():  # HDF5 may crash in its exit handler after a failed write: skip the handlers
            import os

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(done.code if isinstance(done.code, int) else 1)
        raise
