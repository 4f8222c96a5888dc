"""`sslr reproduce`: the paper end to end as a plan of named stages, a resumable runner, and a report.

- ``plan``: scales (demo, tiny, small, paper, toy) as data; ``build_plan`` asks each experiment for its stages.
- ``experiments``: the registry of the paper's tables and figures (``EXPERIMENTS``), one module each: its
  stages, its part of results.json, its verdicts and its section of the report.
- ``runner``: runs a plan in-process through the CLI's own command functions, resumably.
- ``report``: results.json, report.md and a self-contained report.html from the stages' outputs.
"""
