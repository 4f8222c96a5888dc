"""`sslr reproduce`: the paper end to end as a plan of named stages, a resumable runner, and a report.

- ``plan``: scales (demo, tiny, small, paper, toy) as data; each stage is the `sslr` command(s) it runs.
- ``runner``: runs a plan in-process through the CLI's own command functions, resumably.
- ``report``: results.json, report.md and a self-contained report.html from the stages' outputs.
"""
