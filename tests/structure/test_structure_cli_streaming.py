"""predict-structure at proteome scale through the CLI (issue 13, items 3-6) and the structure
commands' output refusals (issue 11, items 1, 2 and 11).

Refusals exit with the documented code and one ``Error:`` line, write nothing and leave every
input file byte for byte (and mode for mode) unchanged.
"""

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import typing

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from bio_mtl.cli.main import cli

AA = list("ACDEFGHIKLMNPQRSTVWY")


def _fasta(path, n=40, seed=0, low=10, high=90):
    rng = np.random.default_rng(seed)
    seqs = ("".join(rng.choice(AA, int(rng.integers(low, high)))) for _ in range(n))
    path.write_text("".join(f">p{i} protein {i}\n{seq}\n" for i, seq in enumerate(seqs)))
    return path


def _invoke(*args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)




def _state(folder):
    """Every file under ``folder`` with its bytes' digest and mode."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                         p.stat().st_mode)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ shards (issue 13, item 5)


def test_shards_concatenate_into_the_single_run(trained, tmp_path):
    fasta = _fasta(tmp_path / "in.fa")
    model = ["--model", trained / "model", "--batch-tokens", 64]  # 64 << k residues per block
    for fmt, extra in (("tsv", []), ("fasta", []), ("csv", ["--summary"])):
        whole = tmp_path / f"whole.{fmt}"
        assert _invoke("predict-structure", fasta, *model, "-o", whole, *extra).exit_code == 0
        for count in (1, 2, 3, 4, 7):
            parts = []
            for k in range(1, count + 1):
                part = tmp_path / f"part{k}.{fmt}"
                r = _invoke("predict-structure", fasta, *model, "--shard", f"{k}/{count}", "-o",
                            part, *extra)
                assert r.exit_code == 0, r.output
                parts.append(part.read_bytes())
            assert b"".join(parts) == whole.read_bytes(), (fmt, count)
    ids = [ln.split("\t")[0] for ln in (tmp_path / "whole.tsv").read_text().splitlines()[1:]]
    assert list(dict.fromkeys(ids)) == [f"p{i}" for i in range(40)]  # every record once


def test_json_shards_are_lists_that_add_up_to_the_single_run(trained, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", n=12)
    model = ["--model", trained / "model", "--batch-tokens", 64]
    assert _invoke("predict-structure", fasta, *model, "-o", tmp_path / "all.json").exit_code == 0
    merged = []
    for k in (1, 2, 3):
        assert _invoke("predict-structure", fasta, *model, "--shard", f"{k}/3", "-o",
                       tmp_path / f"{k}.json").exit_code == 0
        merged += json.loads((tmp_path / f"{k}.json").read_text())
    assert merged == json.loads((tmp_path / "all.json").read_text())


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "-1/2", "1/0", "1.5/3"])
def test_bad_shards_are_usage_errors(trained, tmp_path, value, refused):
    fasta = _fasta(tmp_path / "in.fa", n=3)
    before = _state(tmp_path)
    r = _invoke("predict-structure", fasta, "--model", trained / "model", "--shard", value,
                "-o", tmp_path / "o.tsv")
    refused(r, 2, "'--shard'")
    assert _state(tmp_path) == before


def test_a_shard_of_stdin_is_refused(trained, tmp_path, refused):
    r = _invoke("predict-structure", "-", "--model", trained / "model", "--shard", "1/2",
                input=">a\nMKT\n")
    refused(r, 2, "'--shard'", "regular FASTA file")


# ------------------------------------------------------------------ threads (issue 13, item 4)


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "two", ""])
def test_bad_thread_counts_are_usage_errors(trained, tmp_path, value, refused):
    fasta = _fasta(tmp_path / "in.fa", n=2)
    r = _invoke("predict-structure", fasta, "--model", trained / "model", "--threads", value)
    refused(r, 2, "'--threads'")


def test_threads_sets_torch_threads(trained, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", n=2)
    before = torch.get_num_threads()
    try:
        r = _invoke("predict-structure", fasta, "--model", trained / "model", "--threads", 1,
                    "-o", tmp_path / "o.tsv")
        assert r.exit_code == 0, r.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_default_threads_follow_affinity_quota_and_omp(monkeypatch, tmp_path):
    from bio_mtl.cli import threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    monkeypatch.setattr(threads, "_CGROUP_V2", tmp_path / "cpu.max")
    monkeypatch.setattr(threads, "_CGROUP_V1", (tmp_path / "q", tmp_path / "p"))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.available_cpus() == 6  # the affinity mask
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.available_cpus() == 6  # no quota
    (tmp_path / "cpu.max").write_text("250000 100000\n")
    assert threads.available_cpus() == 3  # 2.5 CPUs of quota, rounded up
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert threads.available_cpus() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "8,2")  # nested levels: the outer one
    assert threads.available_cpus() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a count: ignored
    assert threads.available_cpus() == 3


def test_threads_option_sets_openmp_and_onednn_defaults_before_torch_loads():
    """In a fresh process (torch not loaded yet), parsing --threads asks OpenMP to sleep while
    waiting and turns oneDNN's per-shape kernel cache off, unless the environment says
    otherwise."""
    import subprocess
    import sys

    code = ("import os, sys\n"
            "from bio_mtl.cli.threads import _sleep_while_waiting\n"
            "assert 'torch' not in sys.modules\n"
            "_sleep_while_waiting(None, None, None)\n"
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["PASSIVE", "0"]
    env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = "64"  # the user's choice wins
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["PASSIVE", "64"]


# ------------------------------------------------------------------ streaming and progress


class _Recorder:
    instances: typing.ClassVar[list] = []

    def __init__(self, *, enabled=True, log_path=None):
        self.enabled, self.calls = enabled, []
        _Recorder.instances.append(self)

    def start(self, total, description):
        self.calls.append(("start", total))

    def advance(self, n=1):
        self.calls.append(("advance", n))

    def log(self, record):
        pass

    def finish(self):
        self.calls.append(("finish", None))


def test_progress_moves_within_one_long_sequence_and_quiet_silences_it(trained, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr("bio_mtl.cli.console.RichProgress", _Recorder)
    fasta = _fasta(tmp_path / "titin.fa", n=1, low=2500, high=2501)
    r = _invoke("predict-structure", fasta, "--model", trained / "model", "--batch-tokens", 1000,
                "-o", tmp_path / "o.tsv")
    assert r.exit_code == 0, r.output
    progress = _Recorder.instances[-1]
    assert progress.enabled
    assert progress.calls[0] == ("start", 2500)
    steps = [n for kind, n in progress.calls if kind == "advance"]
    assert len(steps) == 3  # the three 1,000-residue windows, one forward pass each
    assert sum(steps) == 2500
    for args in (["-q", "predict-structure"], ["predict-structure", "--quiet"]):
        r = _invoke(*args, fasta, "--model", trained / "model", "-o", tmp_path / "q.tsv")
        assert r.exit_code == 0, r.output
        assert not _Recorder.instances[-1].enabled
        assert r.stderr == ""


def test_a_file_is_checked_whole_before_anything_is_written(trained, tmp_path, refused):
    fasta = _fasta(tmp_path / "in.fa", n=30)
    with fasta.open("a") as handle:
        handle.write(">late\nMKT1\n")
    r = _invoke("predict-structure", fasta, "--model", trained / "model", "-o", "-")
    refused(r, 3, "record 'late': unknown residue '1' at position 4 (line 62)")
    assert r.stdout == ""


def test_a_failure_while_streaming_leaves_no_output(trained, tmp_path):
    text = _fasta(tmp_path / "in.fa", n=30).read_text() + ">late\nMKT1\n"
    out = tmp_path / "out" / "o.tsv"
    r = _invoke("predict-structure", "-", "--model", trained / "model", "--batch-tokens", 64,
                "-o", out, input=text)  # stdin is read once: the error comes mid-stream
    assert r.exit_code == 3, r.output
    assert "record 'late'" in r.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["in.fa", "out"]  # no temp file


def test_streamed_output_equals_the_library_writer(trained, tmp_path):
    from bio_mtl.structure import load_model, predict_structure, read_sequences, write_predictions

    fasta = _fasta(tmp_path / "in.fa", n=25)
    for name in ("o.tsv", "o.csv.gz", "o.json", "o.fasta"):
        r = _invoke("predict-structure", fasta, "--model", trained / "model", "-o",
                    tmp_path / name)
        assert r.exit_code == 0, r.output
        write_predictions(predict_structure(read_sequences(fasta), load_model(trained / "model")),
                          tmp_path / "lib" / name, name.split(".")[1])
        assert (tmp_path / name).read_bytes() == (tmp_path / "lib" / name).read_bytes(), name


def test_stdout_devices_and_fifos_are_written_in_place(trained, tmp_path):
    fasta = _fasta(tmp_path / "in.fa", n=5)
    model = ["--model", trained / "model"]
    assert _invoke("predict-structure", fasta, *model, "-o", tmp_path / "ref.tsv").exit_code == 0
    want = (tmp_path / "ref.tsv").read_bytes()
    r = _invoke("predict-structure", fasta, *model, "-o", os.devnull)
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = _invoke("predict-structure", fasta, *model, "-o", fifo, "--format", "tsv")
    reader.join(timeout=60)
    assert r.exit_code == 0, r.output
    assert got == [want]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa", "pipe", "ref.tsv"]
    proc = subprocess.run([sys.executable, "-m", "bio_mtl.cli", "predict-structure", str(fasta),
                           "--model", str(trained / "model"), "-o", "/dev/stdout", "--format",
                           "tsv"], capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == want


def test_a_disorder_head_adds_p_disorder(tmp_path):
    from bio_mtl.structure import StructureModel, StructureModelConfig, build_structure_model

    torch.manual_seed(0)
    config = StructureModelConfig(embed_dim=8, conv_channels=8, conv_layers=1, kernel_size=3,
                                  dilations=(1,), lstm_layers=0, dropout=0.0,
                                  tasks=("ss8", "ss3", "rsa", "disorder"))
    StructureModel.from_network(build_structure_model(config), config).save(tmp_path / "m")
    fasta = _fasta(tmp_path / "in.fa", n=3)
    for fmt in ("tsv", "csv", "json"):
        r = _invoke("predict-structure", fasta, "--model", tmp_path / "m", "-o",
                    tmp_path / f"o.{fmt}")
        assert r.exit_code == 0, r.output
    header = (tmp_path / "o.tsv").read_text().splitlines()[0].split("\t")
    assert header[-2:] == ["p_C", "p_disorder"]
    values = [float(ln.split(",")[-1]) for ln in (tmp_path / "o.csv").read_text().splitlines()[1:]]
    assert all(0 <= v <= 1 for v in values)
    doc = json.loads((tmp_path / "o.json").read_text())
    assert doc[0]["p_disorder"] == values[:len(doc[0]["seq"])]


# ------------------------------------------------------------------ issue 11, items 1, 2, 11


def _refusal_cases(trained, tmp_path):
    fasta = _fasta(tmp_path / "s.fa", n=2)
    (tmp_path / "link.fa").symlink_to(fasta)
    data = tmp_path / "d.jsonl.gz"
    data.write_bytes((trained / "test.jsonl.gz").read_bytes())
    cif = tmp_path / "x.cif.gz"
    cif.write_bytes(b"\x1f\x8b not really a structure")
    model = tmp_path / "M"
    model.mkdir()
    for name in ("model.safetensors", "config.json"):
        (model / name).write_bytes((trained / "model" / name).read_bytes())
    return {
        "predict -o input": (["predict-structure", fasta, "--model", model, "-o", fasta],
                             "also an input"),
        "predict -o ./input": (["predict-structure", fasta, "--model", model, "-o",
                                f"{tmp_path}/./s.fa"], "also an input"),
        "predict -o symlink to input": (["predict-structure", fasta, "--model", model, "-o",
                                         tmp_path / "link.fa"], "also an input"),
        "predict -o inside the model": (["predict-structure", fasta, "--model", model, "-o",
                                         model / "model.safetensors"], "inside the model folder"),
        "evaluate --markdown input": (["evaluate-structure", "--model", model, data,
                                       "--markdown", data], "also an input"),
        "evaluate -o in the model": (["evaluate-structure", "--model", model, data, "-o",
                                      model / "config.json"], "inside the model folder"),
        "evaluate -o = --markdown": (["evaluate-structure", "--model", model, data, "-o",
                                      tmp_path / "m.md", "--markdown", tmp_path / "m.md"],
                                     "the same file"),
        "build -o input": (["build-structure-dataset", cif, "-o", cif], "also an input"),
        "train --out inside the model": (["train-structure", "--train", data, "--out",
                                          model / "sub", "--init-from", model],
                                         "inside the model folder"),
    }


@pytest.mark.parametrize("case", ["predict -o input", "predict -o ./input",
                                  "predict -o symlink to input", "predict -o inside the model",
                                  "evaluate --markdown input", "evaluate -o in the model",
                                  "evaluate -o = --markdown", "build -o input",
                                  "train --out inside the model"])
def test_outputs_never_destroy_inputs(trained, tmp_path, case, refused):
    args, fragment = _refusal_cases(trained, tmp_path)[case]
    before = _state(tmp_path)
    links = sorted(p.name for p in tmp_path.iterdir() if p.is_symlink())
    r = _invoke(*args)
    refused(r, 2, fragment)
    assert _state(tmp_path) == before  # no new file, every input byte and mode unchanged
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_symlink()) == links


def test_help_says_what_the_output_shows(trained):
    r = _invoke("predict-structure", "--help")
    text = " ".join(r.output.split())
    assert "U (selenocysteine) as C, O (pyrrolysine) as K" in text
    assert "instead of the per-residue rows" in text
    assert "--shard K/N" in text
    assert "--threads N" in text
