"""Exit codes of a run stopped by a signal (the shell's 128 + N), known without importing torch."""

from __future__ import annotations

import signal

EXIT_CODES = {"terminated": 128 + signal.SIGTERM, "interrupted": 128 + signal.SIGINT}
