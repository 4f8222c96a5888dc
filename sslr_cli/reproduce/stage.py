"""A stage of the reproduction: the `sslr` command lines it runs, the files it leaves, the stages it needs."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stage:
    """One step of the plan. ``commands`` are argv lists for `sslr`; ``stdout`` (relative to OUT) receives
    the `--json` output of an evaluation command; ``outputs`` are the files the stage must leave."""

    name: str
    group: str  # table1 / figures / table3 / table2: which --only groups need it (first one listed)
    kind: str  # data, train, eval
    title: str
    commands: tuple[tuple[str, ...], ...]
    outputs: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict, compare=False, hash=False)
    stdout: str | None = None  # for eval stages: where the command's --json output goes
    parallel: bool = False  # a training stage: may run beside the next ones (`--jobs`) unless it needs them
    est_seconds: float | None = None

    def shell(self, prefix: str = "sslr") -> list[str]:
        """The stage as shell lines (what --dry-run prints)."""
        lines = []
        for argv in self.commands:
            line = " ".join([prefix, *(shlex.quote(a) for a in argv)])
            if self.stdout:
                line += f" > {shlex.quote(self.stdout)}"
            lines.append(line)
        return lines

    @property
    def run_dir(self) -> str | None:
        """The run directory of a training stage (its --out)."""
        if self.kind != "train":
            return None
        argv = self.commands[0]
        return argv[argv.index("--out") + 1]

    @property
    def max_steps(self) -> int | None:
        if self.kind != "train":
            return None
        argv = self.commands[0]
        return int(argv[argv.index("--max-steps") + 1])
