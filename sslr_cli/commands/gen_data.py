"""`sslr gen-data`: make the datasets as HDF5 files, one subcommand per dataset kind, wired from ``GEN_DATA``.

Each subcommand is its own Typer function (their options differ) in its own module; its help line is its
kind's (``data/registry.py`` ``DATASETS``), so a new kind with a generator command is that function and one
entry here."""

from __future__ import annotations

from typing import Callable

import typer

from sslr_cli.commands import gen_circles, gen_clevr, import_multi_object
from sslr_cli.data.registry import DATASETS

# subcommand -> (the dataset kind it makes, its Typer function), in the order `sslr gen-data --help` lists them
GEN_DATA: dict[str, tuple[str, Callable]] = {
    "circles": ("circles", gen_circles.circles),
    "isocircles": ("isocircles", gen_circles.isocircles),
    "clevr": ("clevr", gen_clevr.clevr),
    "import-multi-object": ("multi_object", import_multi_object.import_multi_object),
}


def gen_data_app(commands: dict[str, tuple[str, Callable]] | None = None) -> typer.Typer:
    """The `sslr gen-data` group of ``commands`` (default: ``GEN_DATA``), each with its kind's help line."""
    commands = GEN_DATA if commands is None else commands
    group = typer.Typer(help=f"Generate datasets (HDF5): {', '.join(commands)}.", no_args_is_help=True)
    for name, (kind, command) in commands.items():
        group.command(name, help=DATASETS[kind].help)(command)
    return group


app = gen_data_app()
