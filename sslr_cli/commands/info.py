"""`sslr info`: versions, devices, CPU features, the FSPool kernel and the cache folder (for bug reports)."""

from __future__ import annotations

from rich.table import Table

from sslr_cli.commands import options as o
from sslr_cli.commands.common import out, print_json, user_errors


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


@user_errors
def info_command(as_json: o.JsonOption = False) -> None:
    """Versions of sslr, Python, torch (CUDA, cuDNN), numpy, h5py; devices; the CPU and the features the project
    uses (AVX2, AVX-512, bf16); the FSPool kernel's status; the cache folder. Paste it into a bug report."""
    from sslr_cli.engine.environment import describe

    info = describe()
    if as_json:
        print_json(info)
        return
    table = Table(title="sslr info", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("sslr", info["sslr"])
    table.add_row("Python", f"{info['python']} ({info['platform']})")
    torch_line = info["torch"] + (f", CUDA {info['torch_cuda']}" if info["torch_cuda"] else ", CPU build")
    if info["cudnn"]:
        torch_line += f", cuDNN {info['cudnn']}"
    table.add_row("torch", torch_line)
    table.add_row("numpy / h5py", f"{info['numpy']} / {info['h5py']} (HDF5 {info['hdf5']})")
    cpu = info["cpu"]
    table.add_row("CPU", f"{cpu['model']}, {cpu['cores']} cores ({cpu['arch']}); torch uses {info['torch_threads']} "
                         f"threads, kernels for {info['torch_cpu_capability']}")
    if cpu["features"]:
        table.add_row("CPU features", ", ".join(f"{name} {_yes(has)}" for name, has in cpu["features"].items()))
    if info["gpus"]:
        for i, gpu in enumerate(info["gpus"]):
            table.add_row(f"cuda:{i}", f"{gpu['name']}, {gpu['memory_gib']} GiB, compute capability {gpu['capability']}")
    else:
        table.add_row("GPUs", "none (CUDA not available)")
    table.add_row("FSPool kernel", info["fspool_kernel"])
    table.add_row("cache folder", info["cache_dir"])
    out.print(table)
