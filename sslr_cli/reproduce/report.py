"""The report of a reproduction: ``results.json`` (every number), ``report.md`` and a self-contained
``report.html`` (figures embedded as base64 PNG; nothing fetched from a network).

Everything comes from the files the stages wrote (the commands' ``--json`` output under ``results/``, the
figures, ``manifest.json``): the report can be rewritten at any time (``sslr reproduce OUT --report-only``).
Both documents are rendered from one list of blocks, so their numbers are the same, and the same as
results.json's (rounded for display by ``fmt``). Each table or figure gives its own part of results.json,
its verdicts and its section (``experiments.EXPERIMENTS``, in plan order); this module adds the header, the
verdicts table, the stages and their commands, and renders the documents.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import time
from pathlib import Path
from typing import Any

from sslr_cli.atomic import atomic_path
from sslr_cli.jsonsafe import json_safe
from sslr_cli.reproduce.blocks import Block, fmt, load_json
from sslr_cli.reproduce.experiments import EXPERIMENTS
from sslr_cli.reproduce.scale import Scale
from sslr_cli.reproduce.stage import Stage


def machine() -> dict:
    import torch

    from sslr_cli import __version__
    from sslr_cli.engine.environment import cpu_description

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    cpu = cpu_description()
    return {"cpu": cpu["model"], "cpu_cores": cpu["cores"], "gpus": gpus, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "sslr": __version__}


# ---------------------------------------------------------------- results.json

def _busy_seconds(records) -> float:
    """Wall time during which some stage ran: the union of the finished stages' [end - seconds, end]
    intervals (side-by-side stages overlap; the time between two invocations of the runner is not counted)."""
    spans = []
    for r in records:
        if r.get("done") and r.get("seconds") is not None and r.get("finished"):
            end = time.mktime(time.strptime(r["finished"], "%Y-%m-%dT%H:%M:%S"))
            spans.append((end - r["seconds"], end))
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def collect(out: Path, scale: Scale, stages: list[Stage], seeds: int) -> dict:
    """results.json's content from the files under ``out``."""
    manifest = load_json(out / "manifest.json") or {"stages": {}}
    results: dict[str, Any] = {
        "scale": scale.name, "about": scale.about, "seeds": seeds, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "stages": [{"name": s.name, "title": s.title, "group": s.group, "kind": s.kind,
                    "settings": {**s.settings, **_step_path(s)}, "commands": s.shell(), "done": bool(manifest["stages"].get(s.name, {}).get("done")),
                    "seconds": manifest["stages"].get(s.name, {}).get("seconds"), "estimate_seconds": s.est_seconds}
                   for s in stages],
    }
    results["wall_seconds"] = _busy_seconds(manifest["stages"].values())
    done = {s["name"] for s in results["stages"] if s["done"]}
    for key, experiment in EXPERIMENTS.items():
        part = experiment.collect(out / "results", done)
        if part is not None:
            results[key] = part
    results["verdicts"] = verdicts(results)
    return results


def _step_path(stage: Stage) -> dict:
    """How a finished training computed its steps, from its run's config.json: CUDA graph replay or eager."""
    if stage.kind != "train" or stage.run_dir is None:
        return {}
    config = load_json(Path(stage.run_dir) / "config.json")
    if not isinstance(config, dict):
        return {}
    return {"step": "CUDA graphs" if config.get("train", {}).get("cuda_graphs") else "eager"}


# ---------------------------------------------------------------- verdicts

def verdicts(results: dict) -> list[dict]:
    """The verdict on each claim of the paper that results.json's parts measure, in plan order."""
    return [v for key, experiment in EXPERIMENTS.items() if results.get(key) for v in experiment.verdicts(results[key])]


# ---------------------------------------------------------------- the document, as blocks

def blocks(results: dict, out: Path) -> list[Block]:
    b = [Block("h1", f"SSLR reproduction, scale `{results['scale']}`")]
    m = results["machine"]
    total = sum(s["seconds"] or 0 for s in results["stages"])
    b.append(Block("p", f"{results['about']}. Written {results['written']}. Machine: {m['cpu']}, {m['cpu_cores']} cores, "
                        f"GPU: {', '.join(m['gpus']) or 'none'}; torch {m['torch']}, Python {m['python']}, sslr {m['sslr']}. "
                        f"Wall time: {fmt(results.get('wall_seconds', total) / 60, 1)} min (stages side by side overlap; "
                        f"their own times add up to {fmt(total / 60, 1)} min). "
                        f"Numbers from training runs this short are not the paper's; the verdicts say what holds at this scale."))
    b.append(Block("h2", "Verdicts"))
    if results["verdicts"]:
        b.append(Block("table", headers=("claim of the paper", "at this scale", "measured"),
                       rows=tuple((v["claim"], v["verdict"], v["detail"]) for v in results["verdicts"])))
    else:
        b.append(Block("p", "No table or figure has been measured yet."))

    for key, experiment in EXPERIMENTS.items():
        b += experiment.blocks(results.get(key))

    b.append(Block("h2", "Stages"))
    where = "on the GPU" if m["gpus"] else "at one thread"
    rows = []
    for s in results["stages"]:
        settings = ", ".join(f"{k} {v}" for k, v in s["settings"].items())
        est = "" if s["estimate_seconds"] is None else f" (estimate {fmt(s['estimate_seconds'] / 60, 1)} min {where})"
        took = "not run" if not s["done"] else f"{fmt((s['seconds'] or 0) / 60, 2)} min"
        rows.append((s["name"], s["title"], settings, took + est))
    b.append(Block("table", headers=("stage", "what", "settings", "wall time"), rows=tuple(rows)))
    b.append(Block("p", "The equivalent commands (run by hand, they write the same files):"))
    b.append(Block("code", "\n".join(line for s in results["stages"] for line in s["commands"])))
    return b


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_md(bl: list[Block]) -> str:
    lines = []
    for x in bl:
        if x.kind == "h1":
            lines += [f"# {x.text}", ""]
        elif x.kind == "h2":
            lines += [f"## {x.text}", ""]
        elif x.kind == "p":
            lines += [x.text, ""]
        elif x.kind == "code":
            lines += ["```", x.text, "```", ""]
        elif x.kind == "table":
            lines.append("| " + " | ".join(_md_cell(h) for h in x.headers) + " |")
            lines.append("|" + "---|" * len(x.headers))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in x.rows]
            lines.append("")
        elif x.kind == "figure":
            lines += [f"![{x.text}]({x.path})", "", f"*{x.text}*", ""]
    return "\n".join(lines)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}img{max-width:100%}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:85%}figure{margin:1.5em 0}"
        "figcaption{font-style:italic;color:#555}")


def render_html(bl: list[Block], out: Path) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>SSLR reproduction</title>",
             f"<style>{_CSS}</style></head><body>"]
    for x in bl:
        if x.kind in ("h1", "h2"):
            parts.append(f"<{x.kind}>{e(x.text.replace('`', ''))}</{x.kind}>")
        elif x.kind == "p":
            parts.append(f"<p>{e(x.text)}</p>")
        elif x.kind == "code":
            parts.append(f"<pre>{e(x.text)}</pre>")
        elif x.kind == "table":
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in x.headers) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in x.rows]
            parts.append("</table>")
        elif x.kind == "figure":
            path = out / x.path
            if path.exists():
                data = base64.b64encode(path.read_bytes()).decode()
                parts.append(f"<figure><img alt='{e(x.text)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(x.text)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: Path, scale: Scale, stages: list[Stage], seeds: int) -> dict[str, Path]:
    """Write results.json, report.md and report.html under ``out`` (each atomically); return their paths."""
    out = Path(out)
    results = collect(out, scale, stages, seeds)
    bl = blocks(results, out)
    paths = {"results": out / "results.json", "md": out / "report.md", "html": out / "report.html"}
    texts = {"results": json.dumps(json_safe(results), indent=2) + "\n", "md": render_md(bl), "html": render_html(bl, out)}
    for key, path in paths.items():
        with atomic_path(path, force=True) as tmp:
            tmp.write_text(texts[key])
    return paths


