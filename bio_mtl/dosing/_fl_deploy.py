"""Flower's Deployment Runtime for federated dosing: the app objects and a localhost launcher.

``server_app`` and ``client_app`` are what a Flower App Bundle names
(``[tool.flwr.app.components]``); they read everything from Flower's run config (the
coordinator's settings as JSON, the output folder) and node config (a site's ``data`` table,
its ``site`` name and an optional ``site-out`` folder). :func:`write_flower_app` writes such an
app; :func:`run_local_deployment` runs it for real on this machine: one ``flower-superlink``,
one ``flower-supernode`` per site and ``flwr run``, all talking over 127.0.0.1 (each process is
stopped at the end, by its own process group).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from flwr.serverapp import ServerApp
from safetensors.torch import load_file, save_file

from ..errors import ModelError
from ._fl_client import make_client_app
from ._fl_server import run_server

__all__ = ["client_app", "run_local_deployment", "server_app", "write_flower_app"]

_APP_MODULE = "biomtl_flower_app"
_PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "biomtl-dosing"
version = "1.0.0"
description = "bio_mtl federated dosing (the code comes from the installed bio_mtl)"
license = "MIT"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "biomtl"

[tool.flwr.app.components]
serverapp = "{module}:server_app"
clientapp = "{module}:client_app"

[tool.flwr.app.config]
settings = {settings}
out = {out}
"""


def _load_site(context) -> tuple[str, pd.DataFrame]:
    """A site's rows from its SuperNode's ``--node-config 'data="..." site="..."'``."""
    from .features import read_training_table

    path = str(context.node_config["data"])
    rows, _ = read_training_table(path)
    return str(context.node_config.get("site", Path(path).stem)), rows


client_app = make_client_app(_load_site)
server_app = ServerApp()


@server_app.main()
def _main(grid, context) -> None:
    out = Path(str(context.run_config["out"]))
    result = run_server(grid, json.loads(str(context.run_config["settings"])))
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in result["state"].items()},
              out / "state.safetensors")
    (out / "result.json").write_text(json.dumps({k: v for k, v in result.items()
                                                 if k != "state"}, default=float))


def write_flower_app(directory: str | os.PathLike, settings: dict, out: str | os.PathLike
                     ) -> Path:
    """Write a Flower App (pyproject + a two-line module naming bio_mtl's apps).

    Parameters
    ----------
    directory
        Folder to create.
    settings
        The coordinator's settings (see :func:`bio_mtl.dosing._fl_server.run_server`).
    out
        Where the ``ServerApp`` writes the final parameters and the run record.
    """
    app = Path(directory)
    app.mkdir(parents=True, exist_ok=True)
    (app / f"{_APP_MODULE}.py").write_text(
        '"""Flower app of bio_mtl federated dosing."""\n'
        "from bio_mtl.dosing import _fl_deploy\n\n"
        "server_app = _fl_deploy.server_app\nclient_app = _fl_deploy.client_app\n")
    (app / "pyproject.toml").write_text(_PYPROJECT.format(
        module=_APP_MODULE, settings=json.dumps(json.dumps(settings)),
        out=json.dumps(str(out))))
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tool(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise ModelError(f"{name} not found; install the federated extra: "
                         "pip install 'bio-mtl[federated]'")
    return found


def _spawn(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with log.open("w") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start_federation(work: Path, sites: Mapping[str, pd.DataFrame], site_dir, env
                      ) -> tuple[list[subprocess.Popen], int]:
    port = _free_port()
    procs = [_spawn([_tool("flower-superlink"), "--insecure", "--port", str(port)],
                    work / "superlink.log", env)]
    for i, (name, rows) in enumerate(sites.items()):
        data = work / f"site{i}.csv"
        rows.to_csv(data, index=False)
        node = f'data="{data}" site="{name}"'
        if site_dir is not None:
            node += f' site-out="{site_dir}"'
        procs.append(_spawn([_tool("flower-supernode"), "--insecure", "--superlink",
                             f"127.0.0.1:{port}", "--port", str(_free_port()),
                             "--node-config", node], work / f"supernode{i}.log", env))
    return procs, port


def run_local_deployment(sites: Mapping[str, pd.DataFrame], settings: dict, *,
                         site_dir: str | os.PathLike | None = None,
                         timeout: float = 1800.0) -> dict:
    """Run the federation with Flower's Deployment Runtime on this machine.

    Each site's rows are written to its own CSV, which only that site's SuperNode reads.

    Parameters
    ----------
    sites
        ``{site: tidy rows}``.
    settings
        Coordinator settings.
    site_dir
        Where personalised site models are saved.
    timeout
        Seconds before the run is abandoned.

    Returns
    -------
    dict
        As :func:`bio_mtl.dosing._fl_server.run_server`.

    Raises
    ------
    ModelError
        The run failed or timed out (the message points at the logs).
    """
    work = Path(tempfile.mkdtemp(prefix="biomtl-flower-"))
    env = {**os.environ, "FLWR_HOME": str(work / "home"), "PYTHONUNBUFFERED": "1"}
    procs, port = _start_federation(work, sites, site_dir, env)
    try:
        (work / "home").mkdir(exist_ok=True)
        (work / "home" / "config.toml").write_text(
            f'[superlink]\ndefault = "biomtl"\n\n[superlink.biomtl]\n'
            f'address = "127.0.0.1:{port}"\ninsecure = true\n')
        app = write_flower_app(work / "app", settings, work / "out")
        _wait_for_superlink(port, timeout=60)
        run = subprocess.run([_tool("flwr"), "run", str(app), "biomtl", "--stream"], env=env,
                             cwd=work, capture_output=True, text=True, timeout=timeout,
                             check=False)
        (work / "flwr-run.log").write_text(run.stdout + run.stderr)
        result = work / "out" / "result.json"
        if run.returncode or not result.exists():
            raise ModelError(f"the Flower deployment run failed (exit {run.returncode}); "
                             f"logs in {work}")
        out = json.loads(result.read_text())
        out["state"] = load_file(work / "out" / "state.safetensors")
        return out
    except subprocess.TimeoutExpired:
        raise ModelError(f"the Flower deployment run took over {timeout:g} s; logs in "
                         f"{work}") from None
    finally:
        _stop(procs)


def _wait_for_superlink(port: int, *, timeout: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise ModelError(f"the Flower SuperLink did not start on port {port}")
