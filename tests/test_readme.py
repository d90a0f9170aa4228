"""README.md as a test (the fair-esm idea): its commands must exist, parse and, where they are
quick and need only bundled files, run; its Python snippets must run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from bio_mtl.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _biomtl_lines() -> list[str]:
    lines = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("biomtl "):
                    lines.append(part)
    return lines


def _resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command that ``argv`` (without ``biomtl``) names, and its remaining words."""
    ctx = click.Context(cli)
    command: click.Command = cli
    while isinstance(command, click.Group):
        name, argv = argv[0], argv[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"README names an unknown command {name!r}"
        command = sub
    return command, argv


def test_quickstart_is_two_lines_and_ci_runs_the_second():
    quick = README.split("## Quickstart", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [ln for ln in quick.splitlines() if ln.strip()]
    assert len(lines) == 2
    assert all(ln.startswith("pip install torch==2.13.0 ") for ln in lines)
    assert "biomtl predict-structure data/examples/proteins.fasta" in lines[0]
    assert '".[test]"' in lines[1] and lines[1].endswith("python -m pytest -q")
    assert (ROOT / "data/examples/proteins.fasta").is_file()
    ci = (ROOT / ".ci/run").read_text()
    # .ci/run evaluates the first README line that starts 'pip install' and names [test]
    assert "grep -m1 -E '^pip install .*\\[test\\]' README.md" in ci
    first_test_line = next(ln for ln in README.splitlines()
                           if re.match(r"^pip install .*\[test\]", ln))
    assert first_test_line == lines[1]


@pytest.mark.parametrize("line", _biomtl_lines())
def test_every_readme_command_exists_with_the_options_it_uses(line):
    words = shlex.split(line.split("#")[0])[1:]
    command, rest = _resolve(words)
    declared = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    used = {w.split("=")[0] for w in rest if w.startswith("-")}
    assert used <= declared, f"{line}: unknown option(s) {sorted(used - declared)}"


def test_readme_lists_every_command():
    named = {shlex.split(line)[1] for line in _biomtl_lines()}
    assert named == set(cli.list_commands(click.Context(cli)))


def test_predict_structure_example_runs(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fasta = ROOT / "data/examples/proteins.fasta"
    result = runner.invoke(cli, ["predict-structure", str(fasta), "-o", "ss.tsv", "--summary"])
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "ss.tsv").read_text().splitlines()
    assert len(rows) == 1 + 5  # header + one summary line per bundled protein
    assert rows[1].split("\t")[0].endswith("UBC_HUMAN_1-76")


@pytest.mark.parametrize("snippet", _blocks("python"))
def test_python_snippets_run(snippet, monkeypatch):
    monkeypatch.chdir(ROOT)  # the snippets use paths relative to the repository root
    exec(compile(snippet, "README.md", "exec"), {})
