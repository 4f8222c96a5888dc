"""The documentation against the code (there is no docs builder): every relative link and anchor of README.md,
docs/ and the study READMEs resolves, every `sslr ...` command line in them parses against the CLI, every
repository path they name exists, the presets tables say what config.py holds, and nothing names a work
item or one machine's folders."""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest
import typer

from sslr_cli.cli import app
from sslr_cli.config import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "studies" / "README.md",
               *(ROOT / "studies").glob("*/README.md")])
IDS = [str(p.relative_to(ROOT)) for p in DOCS]
CLI = typer.main.get_command(app)

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (where links are not links)."""
    return INLINE.sub("", FENCE.sub("", text))


def code_blocks(text: str) -> list[str]:
    """Fenced blocks that hold shell commands (not Python, BibTeX, ...)."""
    return [body for lang, body in FENCE.findall(text) if lang in ("", "bash", "sh", "shell", "console")]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def test_the_documentation_set():
    """The pages the README promises exist, and the README stays short (install, demo, commands, results)."""
    assert {p.name for p in (ROOT / "docs").glob("*.md")} >= {
        "usage.md", "reproduce.md", "presets.md", "fidelity.md", "extending.md", "architecture.md", "multi-gpu.md"}
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
    studies = [p for p in (ROOT / "studies").iterdir() if p.is_dir()]
    assert len(studies) >= 6
    for study in studies:
        head = (study / "README.md").read_text().splitlines()
        assert head[0].startswith("# ") and head[2].startswith("Date: 20") and head[3].startswith("Machine: "), study
        assert (study / "results").is_dir() and any((study / "results").iterdir()), study


# --- links ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_relative_link_resolves(doc):
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, broken


# --- repository paths named in the text ----------------------------------------------------------------

PLACEHOLDERS = ("OUT/", "runs/", "data/", "bench-out/", "demo-out", "tiny-out", "paper-out", "demo-seeds", "~/",
                "CLEVR_v1.0", "figures/", "some/")
PATHLIKE = re.compile(r"^[\w.~-]+(?:/[\w.*{}-]*)+$")


def repository_paths(text: str) -> list[str]:
    """Paths in inline code and in shell blocks that look like files or folders of this repository."""
    words = [w for span in INLINE.findall(FENCE.sub("", text)) for w in span.split()]
    for block in code_blocks(text):
        words += block.replace("\\\n", " ").split()
    out = []
    for w in words:
        w = w.strip("(),;:'\"")
        if not PATHLIKE.match(w) or w.startswith(PLACEHOLDERS) or "=" in w:
            continue
        if re.search(r"\.(py|sh|md|json|jsonl|txt|c|png)$", w) or w.endswith("/"):
            out.append(w)
    return out


def exists(path: str, doc: Path) -> bool:
    for base in (ROOT, ROOT / "sslr_cli", doc.parent):
        pattern = str(base / path)
        if glob.glob(pattern) or (base / path).exists():
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_repository_path_named_exists(doc):
    missing = [p for p in repository_paths(doc.read_text()) if not exists(p, doc)]
    assert not missing, missing


# --- sslr command lines ------------------------------------------------------------------------------------

SEPARATORS = {";", "&&", "||", "|", "&", "do", "then", "(", ")"}


def shell_commands(block: str) -> list[list[str]]:
    """The argv after `sslr` (or `python -m sslr_cli`) of every command in a shell block."""
    block = block.replace("\\\n", " ")
    block = re.sub(r"\$\(\([^)]*\)\)|\$\{\w+\}|\$\w+", "1", block)  # shell variables: any value will do
    found = []
    for line in block.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        segment: list[str] = []
        for token in [*lexer, ";"]:
            if token in SEPARATORS or token in (">", ">>", "<"):
                found += _sslr_argv(segment)
                segment = [] if token in SEPARATORS else ["__redirect__"]
            elif segment == ["__redirect__"]:
                segment = []  # the redirection target
            else:
                segment.append(token)
    return found


def _sslr_argv(segment: list[str]) -> list[list[str]]:
    if segment and segment[0] == "sslr":
        return [segment[1:]]
    if "sslr_cli" in segment and segment[segment.index("sslr_cli") - 1] == "-m":
        return [segment[segment.index("sslr_cli") + 1:]]
    return []


def inline_commands(text: str) -> list[list[str]]:
    """Inline code spans that start with `sslr ` (they may hold placeholders: only names are checked)."""
    return [span.split()[1:] for span in INLINE.findall(FENCE.sub("", text)) if span.startswith("sslr ")]


def is_group(cmd) -> bool:
    return hasattr(cmd, "commands")  # typer ships its own click: no isinstance against click's


def resolve(argv: list[str]):
    """(the command, its path, the rest of argv)."""
    cmd, path, rest = CLI, [], list(argv)
    while is_group(cmd) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        if name not in cmd.commands:
            raise AssertionError(f"sslr {' '.join(path + [name])}: no such command")
        cmd, path = cmd.commands[name], path + [name]
    return cmd, path, rest


def option_names(cmd) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


def check_names(argv: list[str]) -> None:
    cmd, path, rest = resolve(argv)
    for word in rest:
        name = word.split("=", 1)[0]
        if name.startswith("-") and name not in ("-", "--") and not re.match(r"^-\d", name):
            assert name in option_names(cmd), f"sslr {' '.join(path)}: no option {name}"


def check_parses(argv: list[str]) -> None:
    cmd, path, rest = resolve(argv)
    if is_group(cmd) or "--help" in rest or "--version" in rest:
        check_names(argv)
        return
    try:
        cmd.make_context(f"sslr {' '.join(path)}", rest)
    except Exception as exc:  # click's UsageError, BadParameter, MissingParameter (typer's own click)
        if type(exc).__name__ == "Exit":
            return
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        raise AssertionError(f"sslr {' '.join(argv)}: {message}") from None


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_sslr_command_line_parses(doc):
    text = doc.read_text()
    failures = []
    for block in code_blocks(text):
        for argv in shell_commands(block):
            try:
                check_parses(argv)
            except AssertionError as exc:
                failures.append(str(exc))
    for argv in inline_commands(text):
        try:
            check_names(argv)
        except AssertionError as exc:
            failures.append(f"`sslr {' '.join(argv)}`: {exc}")
    assert not failures, failures


def test_the_checks_catch_what_they_should():
    """The checkers fail on a wrong command, option or value, and find commands inside shell syntax."""
    argv = shell_commands("for k in 1 2; do sslr gen-data circles d/k$k.h5 --count $k --seed 1$k; done > log\n"
                          "torchrun --nproc_per_node=2 -m sslr_cli train d.h5 --preset tiny  # comment\n"
                          "python -m sslr_cli reproduce out --dry-run | head")
    assert argv == [["gen-data", "circles", "d/k1.h5", "--count", "1", "--seed", "11"],
                    ["train", "d.h5", "--preset", "tiny"], ["reproduce", "out", "--dry-run"]]
    for a in argv:
        check_parses(a)
    for bad in (["trian", "d.h5"], ["train", "d.h5", "--no-such-option"], ["gen-data", "circles", "x.h5", "--n", "many"],
                ["match", "run"]):  # misspelt command, unknown option, a word for an int, a required option missing
        with pytest.raises(AssertionError):
            check_parses(bad)
    with pytest.raises(AssertionError):
        check_names(["reconstruct", "--by-radio"])
    assert slug("Data: `sslr gen-data`") == "data-sslr-gen-data"
    assert slug("Objects keep CLEVR's apparent size") == "objects-keep-clevrs-apparent-size"


# --- the presets tables ------------------------------------------------------------------------------------

def preset_rows(path: Path) -> dict[str, list[str]]:
    rows = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\| `([a-z-]+)` \|(.*)\|$", line)
        if m and m.group(1) in ("paper", "small", "tiny"):
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


@pytest.mark.parametrize("path", [ROOT / "README.md", ROOT / "docs" / "presets.md"], ids=["README.md", "docs/presets.md"])
def test_presets_tables_say_what_config_holds(path):
    rows = preset_rows(path)
    assert set(rows) == {"paper", "small", "tiny"}
    for name, (_, widths, set_, r_grad, train_) in rows.items():
        m, t = PRESETS[name].model, PRESETS[name].train
        enc, dec = (int(x) for x in re.match(r"(\d+) / (\d+)", widths).groups())
        assert (enc, dec) == (m.encoder_width, m.decoder_width), name
        if "H_agg hidden" in widths:
            assert int(re.search(r"H_agg hidden (\d+)", widths).group(1)) == m.agg_hidden, name
        if "z " in widths:
            assert int(re.search(r"z (\d+)", widths).group(1)) == m.embed_dim, name
        assert set_ == f"{m.set_size} x {m.element_dim}", name
        r, grad = (s.strip() for s in r_grad.rsplit(";", 1))
        assert grad == m.inner_grad and int(r.split(",")[0]) == m.inner_steps, name
        late = re.search(r"(\d+) from epoch (\d+)", r)
        assert (late is not None) == (t.late_epoch >= 0), name
        if late:
            assert (int(late.group(1)), int(late.group(2))) == (t.late_inner_steps, t.late_epoch), name
        batch, opt, precision = (s.strip() for s in train_.split(","))
        optimizer, lr = opt.split()
        assert (int(batch), optimizer.lower(), float(lr), precision) == (t.batch_size, t.optimizer, t.lr, t.precision), name


# --- nothing names a work item or one machine's folders -----------------------------------------------

def test_no_work_item_numbers_or_machine_paths_in_docs_studies_or_benchmarks():
    pattern = re.compile(r"issue ?[0-9]|/w[o]rk/|/t[m]p/|/r[o]ot/|/h[o]me/", re.I)  # [o]: the line does not match itself
    hits = []
    for path in [ROOT / "README.md", *(ROOT / d for d in ("docs", "studies", "benchmarks"))]:
        for f in ([path] if path.is_file() else path.rglob("*")):
            if f.is_file() and f.suffix in (".md", ".py", ".sh", ".txt", ".json", ".jsonl", ".c"):
                for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                    if pattern.search(line):
                        hits.append(f"{f.relative_to(ROOT)}:{n}")
    assert not hits, hits
