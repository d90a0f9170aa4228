"""report.html in a headless browser (Debian ``chromium``): renders, fits 1280 px, figures load.

The page itself has no script; the test loads a copy with a measuring script appended and reads
what it wrote back with ``--dump-dom``. Skipped only where chromium is absent and
``CI_REQUIRE_CHROMIUM`` is not set (``.ci/run`` sets it, so CI never skips).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const wide = [...document.querySelectorAll('table,img,pre,p')].filter(
      e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName);
  const out = {inner: window.innerWidth, scroll: document.documentElement.scrollWidth,
               images: imgs.length, broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                 .map(i => i.alt), wide: wide, h1: document.querySelector('h1').textContent,
               rows: document.querySelectorAll('table tr').length};
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("CI_REQUIRE_CHROMIUM") == "1":
        pytest.fail("CI_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install "
                    "chromium)")
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    import scanpy as sc

    from bio_mtl.dissect import dissect, write_report

    adata = sc.datasets.pbmc68k_reduced()
    res = dissect(adata, latent_key="X_pca", covariates=["bulk_labels", "percent_mito", "phase"],
                  max_dims=4, n_bootstrap=50, max_gsea_permutations=5000)
    return write_report(res, tmp_path_factory.mktemp("browser") / "report"), res


def _measure(binary: str, page, tmp_path, width: int = 1280) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE + "</body>"))
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
           f"--window-size={width},900", "--hide-scrollbars", "--virtual-time-budget=10000",
           "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_report_renders_fits_1280px_and_every_figure_loads(report, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    folder, res = report
    seen = _measure(binary, folder / "report.html", tmp_path)
    assert seen["h1"] == "bio_mtl latent dissection"
    assert seen["inner"] == 1280
    assert seen["scroll"] <= seen["inner"], seen  # no horizontal overflow
    assert seen["wide"] == []
    n_figures = len(list(folder.glob("*.png")))
    assert seen["images"] == n_figures >= 3 + len(res.dimensions)
    assert seen["broken"] == []
    assert seen["rows"] > len(res.dimensions)
    shot = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'p2'}",
                           "--window-size=1280,2000", f"--screenshot={tmp_path / 's.png'}",
                           (folder / "report.html").as_uri()],
                          capture_output=True, timeout=180, check=True)
    assert shot.returncode == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
