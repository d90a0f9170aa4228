"""The command group: help, version, error translation and packaging conventions."""

from __future__ import annotations

import sys

import click
import pytest

from bio_mtl import __version__
from bio_mtl.cli.errors import BadInput, BadModel, translate
from bio_mtl.cli.main import COMMANDS, cli
from bio_mtl.errors import CheckpointError, FastaFormatError, InputError, UnknownAlleleError


def test_help_lists_every_command_with_a_description(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name, (_, _, description) in COMMANDS.items():
        assert name in result.output
        assert description.split()[0] in result.output


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(runner, name):
    result = runner.invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"{name} --help lacks an example"


def test_error_translation_exit_codes():
    assert translate(FastaFormatError("empty", path="a.fa")).exit_code == 3
    assert translate(UnknownAlleleError("unknown allele *99", record="CYP2C9")).exit_code == 3
    assert translate(CheckpointError("corrupt")).exit_code == 4
    err = translate(InputError("unknown residue 'J' at position 5", path="s.fa", record="P1"))
    assert isinstance(err, BadInput)
    assert err.message == "s.fa: record 'P1': unknown residue 'J' at position 5"
    assert isinstance(translate(CheckpointError("x")), BadModel)


def test_library_error_in_a_command_is_one_line_with_exit_code(runner, monkeypatch):
    @click.command()
    def boom():
        raise InputError("missing column 'Age'", path="p.csv")

    monkeypatch.setitem(COMMANDS, "boom", ("main", "_boom", "x"))
    monkeypatch.setattr(sys.modules["bio_mtl.cli.main"], "_boom", boom, raising=False)
    result = runner.invoke(cli, ["boom"])
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: p.csv: missing column 'Age'"
    assert "Traceback" not in result.stderr


def test_cli_is_not_installed_as_top_level_package(runner):
    runner.invoke(cli, ["--help"])
    assert "cli" not in sys.modules


def test_docs_cli_lists_every_command_and_the_exit_codes():
    import re
    from pathlib import Path

    from bio_mtl.cli.errors import EXIT_CODES

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        subs = command.list_commands(ctx) if isinstance(command, click.Group) else [None]
        for sub in subs:
            label = f"`{name} {sub}`" if sub else f"`{name}`"
            assert label in text, f"docs/cli.md does not describe {label}"
    table = dict(re.findall(r"^\| (\d) \| ([^|]+) \|", text, flags=re.M))
    assert sorted(int(c) for c in table) == sorted(EXIT_CODES.values())
    assert "bad input" in table["3"] and "model" in table["4"] and "usage" in table["2"]
