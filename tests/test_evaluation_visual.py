"""The visual report (report/index.html): built from a real CTC run (both conventional anchors on
two 64x64 sequences) and loaded in headless Chromium, which must resolve every picture and log
no error. Chromium is a test requirement (tools/setup.sh --with-tests installs it): without it
these tests fail, they do not skip."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml

from ctc_helpers import dump_yaml, make_tiny_ctc, run_ctc_here, table_bytes
from gfvc.ctc.visual import key_pictures, picture_indices, thumbnail_png
from gfvc.evaluation.browser import check_page, find_chromium
from gfvc.evaluation.html import choose_rate_points, png_size

FRAMES = 4
CODECS = [{"name": "hevc_anchor", "rate_points": [30, 38]}, {"name": "vvc_anchor", "rate_points": [32, 40]}]


def _chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.fail("Chromium is missing: the visual report tests need it; run `bash tools/setup.sh --with-tests` "
                    "(it installs the Debian package chromium)")
    return path


@pytest.fixture(scope="module")
def run_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("visual")
    cfg = make_tiny_ctc(root, n_seq=2, frames=FRAMES, metrics=("psnr_y", "ssim"),
                        extra={"codecs": CODECS, "bdrate": {"anchors": ["vvc_anchor"], "tests": ["hevc_anchor"]}})
    rc, out, err = run_ctc_here(cfg)
    assert rc == 0, err
    return root


def _copy(run_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(run_root, tmp_path / "r")
    return tmp_path / "r"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]


def _links(page: Path) -> list[str]:
    p = _Links()
    p.feed(page.read_text(encoding="utf-8"))
    return p.links


def _check_loads(page: Path, images: int):
    check = check_page(page, chromium=_chromium())
    assert check.errors == [], check.errors
    assert check.broken_images == []
    assert len(check.images) == images
    return check


def test_report_loads_in_chromium_with_every_picture(run_root):
    report = run_root / "run" / "report"
    page = report / "index.html"
    # per sequence: 3 originals, 2 codecs x 3 pictures, the quality-per-picture plot; then 2 RD plots
    check = _check_loads(page, 2 * (3 + 2 * 3 + 1) + 2)
    assert check.title == "gfvc CTC run tiny"
    # relative links only, each to a file inside report/
    for link in _links(page):
        if link.startswith("#"):
            continue
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^/", link, re.I), link
        target = (report / link).resolve()
        assert target.is_file() and report.resolve() in target.parents, link
    text = page.read_text(encoding="utf-8")
    # the rate points closest to the median of the test codec's rates, said under each picture
    for seq in ("TINY_001", "TINY_002"):
        assert f">{seq}</h2>" in text
    assert text.count("rate point ") >= 2 * 2 * 3
    assert "not recorded" not in text


def test_pictures_are_the_decoded_ones_and_original(run_root):
    """The strip shows the decoded pictures at the chosen rate point (checked against the
    record's PSNR-Y of that picture) and the original's pictures."""
    from PIL import Image

    from gfvc.io import read_sequence
    from gfvc.metrics import get_metric

    run = run_root / "run"
    report = run / "report"
    seq = read_sequence(run_root / "seqs" / "TINY_001_64x64_25_8bit_444.rgb")
    for i in picture_indices(FRAMES):
        orig = np.asarray(Image.open(report / "pictures" / f"s000_orig_p{i:06d}.png").convert("RGB"))
        assert np.array_equal(orig, seq[i])
    records = [json.loads(p.read_text()) for p in (run / "cells").glob("*.json")]
    rec = next(r for r in records if r["sequence"] == "TINY_001" and r["codec"] == "hevc_anchor"
               and r["rate_point"] == 30)
    for i in picture_indices(FRAMES):
        dec = np.asarray(Image.open(run / "cells" / f"{rec['digest']}.pictures" / f"p{i:06d}.png").convert("RGB"))
        psnr = get_metric("psnr_y").compute(seq[i:i + 1], dec[None]).mean
        assert psnr == pytest.approx(rec["metrics"]["psnr_y"]["per_picture"][i], abs=1e-9)
    assert set(rec["visual"]["pictures"]) == {str(i) for i in picture_indices(FRAMES)}
    assert "psnr_y" not in rec["visual"]  # measured by the run already: not stored twice


def test_older_records_without_pictures_still_make_a_page(run_root, tmp_path):
    """A record from before the visual report (no `visual` part, no picture files) is kept (not
    computed again) and the page says "not recorded"; a picture file that is not the recorded
    one is not shown either. The page still loads cleanly."""
    root = _copy(run_root, tmp_path)
    run = root / "run"
    recs = {p: json.loads(p.read_text()) for p in sorted((run / "cells").glob("*.json"))}
    tables_before = {k: v for k, v in table_bytes(run).items() if k.startswith("results/")}
    for path, rec in recs.items():
        if rec["codec"] == "vvc_anchor":
            del rec["visual"]
            path.write_text(json.dumps(rec))
            shutil.rmtree(run / "cells" / f"{rec['digest']}.pictures")
        elif rec["sequence"] == "TINY_002":
            (run / "cells" / f"{rec['digest']}.pictures" / "p000002.png").write_bytes(thumbnail_png(
                np.zeros((8, 8, 3), np.uint8)))
    ids = {p: rec["computed"]["id"] for p, rec in recs.items()}
    rc, out, err = run_ctc_here(root / "ctc.yaml")
    assert rc == 0, err
    assert "0 to compute" in err
    assert {p: json.loads(p.read_text())["computed"]["id"] for p in recs} == ids
    assert {k: v for k, v in table_bytes(run).items() if k.startswith("results/")} == tables_before
    page = run / "report" / "index.html"
    text = page.read_text(encoding="utf-8")
    assert text.count("pictures not recorded (cell computed before gfvc stored them)") == 2 * 3
    assert "1 picture file(s) missing or not the recorded ones" in text
    # vvc pictures gone (6), one hevc picture of TINY_002 not shown (1)
    _check_loads(page, 2 * (3 + 2 * 3 + 1) + 2 - 6 - 1)
    assert not (run / "report" / "pictures" / "s000_c000_p000001.png").exists()  # stale copy (vvc) removed


def test_report_without_anchors_still_has_pictures(run_root, tmp_path):
    root = _copy(run_root, tmp_path)
    cfg = root / "ctc.yaml"
    doc = yaml.safe_load(cfg.read_text())
    doc["bdrate"] = {"anchors": [], "tests": None}
    cfg.write_text(dump_yaml(doc))
    rc, out, err = run_ctc_here(cfg)
    assert rc == 0, err
    page = root / "run" / "report" / "index.html"
    assert "no RD plots in this report" in page.read_text(encoding="utf-8")
    _check_loads(page, 2 * (3 + 2 * 3 + 1))


def test_bdrate_cli_page(run_root, tmp_path, capsys):
    """gfvc-bdrate has result stores only: the page names the chosen rate points and says that
    pictures are not recorded; its RD plots load."""
    from gfvc.evaluation import ResultTable, load_results, write_results
    from gfvc.evaluation.cli import main

    table, prov = load_results(run_root / "run" / "results")
    for codec in ("hevc_anchor", "vvc_anchor"):
        write_results(tmp_path / codec, ResultTable([r for r in table.rows if r.codec == codec], table.metrics), prov)
    out = tmp_path / "report"
    assert main([str(tmp_path / "hevc_anchor"), "--anchor", str(tmp_path / "vvc_anchor"), "-o", str(out)]) == 0
    assert "html: " in capsys.readouterr().out
    text = (out / "index.html").read_text(encoding="utf-8")
    assert text.count("pictures and per-picture values not recorded") == 2
    _check_loads(out / "index.html", 2)


def test_chromium_check_finds_broken_pictures_and_errors(run_root, tmp_path):
    """The browser check can fail: a missing picture and a script error are reported."""
    report = tmp_path / "report"
    shutil.copytree(run_root / "run" / "report", report)
    (report / "pictures" / "s000_c000_p000001.png").unlink()
    page = report / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>console.error('boom'); nope();</script></body>"), encoding="utf-8")
    check = check_page(page, chromium=_chromium())
    assert check.broken_images == ["pictures/s000_c000_p000001.png"]
    assert any("boom" in e for e in check.errors)
    assert any("nope is not defined" in e for e in check.errors)
    assert any("ERR_FILE_NOT_FOUND" in e for e in check.errors)


def test_picture_indices_and_rate_choice():
    assert picture_indices(1) == [0]
    assert picture_indices(2) == [1]
    assert picture_indices(4) == [1, 2, 3]
    assert picture_indices(250) == [1, 125, 249]
    points = {"a": [(37, 10.0), (42, 5.0)], "t": [(1, 4.0), (2, 8.0), (3, 30.0)], "u": [(9, 100.0)]}
    target, chosen = choose_rate_points(points, ["t"])
    assert target == 8.0 and chosen == {"a": 37, "t": 2, "u": 9}
    target, chosen = choose_rate_points({"a": [(1, 2.0), (2, 6.0)]}, ["missing"])
    assert target == 4.0 and chosen == {"a": 1}  # no test points: every codec's; tie: the first


def test_key_pictures_from_metadata():
    assert key_pictures({"key_pictures": [0, 4, 8, 99]}, 10) == [0, 4, 8]
    assert key_pictures({"structure": "lowdelay_B"}, 10) == [0]
    assert key_pictures({"structure": "intra"}, 3) == [0, 1, 2]
    assert key_pictures({"other": 1}, 10) is None and key_pictures(None, 10) is None


def test_thumbnails_of_large_pictures_are_reduced():
    from PIL import Image
    import io

    big = np.zeros((1080, 1920, 3), np.uint8)
    big[::2] = 200
    data = thumbnail_png(big)
    assert png_size(data) == (240, 135)  # factor 8 box filter
    px = np.asarray(Image.open(io.BytesIO(data)))
    assert np.all(px == 100)
    small = np.arange(64 * 48 * 3, dtype=np.uint8).reshape(48, 64, 3)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(thumbnail_png(small)))), small)
    assert thumbnail_png(small) == thumbnail_png(small.copy())
