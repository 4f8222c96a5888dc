"""A reproduction plan as a SLURM submission script: one job per stage, each after the stages it needs.

Each job runs ``sslr reproduce OUT ... --stage NAME``: the runner does that one stage (a training continues
from its ``last.pt``, exactly as a local run would) and marks it done in ``OUT/manifest.json``; a last job
writes the report. The script only submits; cluster-specific options (partition, account, time limits)
come from ``$SBATCH_OPTS`` or the lines a user adds.
"""

from __future__ import annotations

import math
import re
import shlex

from sslr_cli.reproduce.plan import Stage

STOP_WARNING_S = 180  # SIGTERM this long before a job's time limit: the training saves last.pt and exits


def _var(name: str) -> str:
    return "JOB_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _time_limit(seconds: float | None) -> str | None:
    """Twice the estimate, at least an hour, as SLURM's D-HH:MM:SS (None when there is no estimate)."""
    if seconds is None:
        return None
    minutes = max(60, math.ceil(2 * seconds / 60))
    days, rest = divmod(minutes, 24 * 60)
    return f"{days}-{rest // 60:02d}:{rest % 60:02d}:00"


def sbatch_script(stages: list[Stage], reproduce_argv: list[str], out: str, prefix: str = "sslr") -> str:
    """The submission script. ``reproduce_argv``: the `sslr reproduce` arguments that rebuild this plan
    (OUT, --scale, --seeds, --only ...), to which each job adds ``--stage NAME``."""
    base = " ".join([prefix, *(shlex.quote(a) for a in reproduce_argv)])
    logs = shlex.quote(f"{out}/logs")
    lines = [
        "#!/usr/bin/env bash",
        f"# {base}: {len(stages)} stages as SLURM jobs, each after the stages it needs, then the report.",
        "# Submit: bash THIS_FILE. Cluster options for every job: SBATCH_OPTS='--partition=gpu --account=me' bash THIS_FILE",
        "# A job stopped by its time limit saves last.pt; submit its line again (or the whole script: finished",
        "# stages are skipped) and the training continues where it stopped.",
        "set -euo pipefail",
        'SBATCH_OPTS="${SBATCH_OPTS:-}"',
        f"mkdir -p {logs}",
        "",
    ]
    for s in stages:
        deps = ":".join(f"${{{_var(n)}}}" for n in s.needs)
        opts = [f"--job-name=sslr-{s.name}", f"--output={out}/logs/{s.name}.%j.slurm.txt",
                f"--signal=B:TERM@{STOP_WARNING_S}"]
        if s.kind != "data":
            opts.append("--gres=gpu:1")
        limit = _time_limit(s.est_seconds)
        if limit:
            opts.append(f"--time={limit}")
        if deps:
            opts.append(f"--dependency=afterok:{deps}")
        cmd = f"exec {base} --stage {shlex.quote(s.name)}"
        lines.append(f"# {s.title}")
        lines.append(f"{_var(s.name)}=$(sbatch --parsable $SBATCH_OPTS {' '.join(shlex.quote(o) if '$' not in o else o for o in opts)} "
                     f"--wrap {shlex.quote(cmd)})")
        lines.append(f'echo "submitted {s.name}: ${{{_var(s.name)}}}"')
    every = ":".join(f"${{{_var(s.name)}}}" for s in stages)
    report = f"exec {base} --report-only"
    lines += ["", "# the report, after every stage",
              f"sbatch --parsable $SBATCH_OPTS --job-name=sslr-report --output={shlex.quote(out + '/logs/report.%j.slurm.txt')} "
              + (f"--dependency=afterok:{every} " if every else "") + f"--wrap {shlex.quote(report)}", ""]
    return "\n".join(lines)
