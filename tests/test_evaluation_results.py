"""The result store: round trip, byte determinism, validation errors naming file and row."""
from __future__ import annotations

import json
import random

import pytest

from gfvc.evaluation import (
    RESULT_COLUMNS, ResultFormatError, ResultTable, dataset_class_of, load_results, make_provenance, write_results,
)

QPS = (22, 32, 42, 52)


def make_table(codec_factors: dict[str, float], sequences=("VOXCELEB_001", "VOXCELEB_002", "CFVQA_001"),
               metrics=("psnr_yuv", "lpips_vgg"), frames=250, fps=25.0, quality_offset=None) -> ResultTable:
    """RD points where codec c's bytes are the reference bytes times codec_factors[c] at equal quality."""
    quality_offset = quality_offset or {}
    rows = []
    for si, seq in enumerate(sequences):
        n = frames if seq.startswith("VOXCELEB") else frames // 2
        for codec, factor in codec_factors.items():
            for k, qp in enumerate(QPS):
                nbytes = int(round((4000 + 3000 * si) * 2 ** (3 - k) * factor))  # exact for the factors used
                values = {"psnr_yuv": 30.0 + 1.9 * (3 - k) - 0.2 * si + quality_offset.get(codec, 0.0),
                          "lpips_vgg": 0.08 + 0.05 * k + 0.01 * si}
                rows.append({"sequence": seq, "dataset_class": "", "codec": codec, "rate_point": f"QP{qp}",
                             "frames": n, "fps": fps, "bytes": nbytes, "kbps": nbytes * 8 / 1000 / (n / fps),
                             **{m: values[m] for m in metrics}})
    return ResultTable(rows, list(metrics))


def test_round_trip_and_deterministic_bytes(tmp_path):
    table = make_table({"VTM": 1.0, "GFVC": 0.5})
    prov = make_provenance(codec_config={"GFVC": {"qp": list(QPS)}}, date="2026-11-22T00:00:00Z")
    csv_path, prov_path = write_results(tmp_path / "a", table, prov)
    shuffled = ResultTable(random.Random(1).sample(table.rows, len(table.rows)), table.metrics)
    write_results(tmp_path / "b", shuffled, prov)
    assert csv_path.read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()
    assert prov_path.read_bytes() == (tmp_path / "b" / "provenance.json").read_bytes()
    header = csv_path.read_text().splitlines()[0].split(",")
    assert tuple(header[:8]) == RESULT_COLUMNS and header[8:] == ["psnr_yuv", "lpips_vgg"]

    loaded, loaded_prov = load_results(tmp_path / "a")
    assert loaded_prov["software"]["name"] == "gfvc" and loaded_prov["date"] == "2026-11-22T00:00:00Z"
    assert loaded.metrics == table.metrics and len(loaded) == len(table)
    by_key = {(r.codec, r.sequence, r.rate_point): r for r in loaded.rows}
    for r in table.rows:
        got = by_key[(r.codec, r.sequence, r.rate_point)]
        assert got.bytes == r.bytes and got.frames == r.frames
        assert got.kbps == pytest.approx(r.kbps, abs=5e-5)
        assert got.metrics["psnr_yuv"] == pytest.approx(r.metrics["psnr_yuv"], abs=5e-7)
        assert got.dataset_class == dataset_class_of(r.sequence)
    # Writing what was loaded gives the same bytes again.
    write_results(tmp_path / "c", loaded, loaded_prov)
    assert (tmp_path / "c" / "results.csv").read_bytes() == csv_path.read_bytes()


def test_missing_metric_value_round_trips_as_empty(tmp_path):
    table = make_table({"GFVC": 1.0}, sequences=("CFVQA_003",))
    table.rows[0].metrics["lpips_vgg"] = None
    write_results(tmp_path, table, make_provenance())
    loaded, _ = load_results(tmp_path / "results.csv")
    assert sum(r.metrics["lpips_vgg"] is None for r in loaded.rows) == 1


def test_dataset_class_rules():
    assert dataset_class_of("VOXCELEB_007_256x256_25_8bit_444") == "VoxCeleb"
    assert dataset_class_of("CFVQA_015") == "CFVQA"
    assert dataset_class_of("MEGAMIND_01", "Animation") == "Animation"
    with pytest.raises(ResultFormatError, match="no dataset_class"):
        dataset_class_of("MEGAMIND_01")


def _edit(tmp_path, line_no, old, new):
    table = make_table({"GFVC": 1.0}, sequences=("VOXCELEB_001",))
    write_results(tmp_path, table, make_provenance())
    path = tmp_path / "results.csv"
    lines = path.read_text().splitlines()
    assert old in lines[line_no - 1]
    lines[line_no - 1] = lines[line_no - 1].replace(old, new, 1)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("line,old,new,message", [
    (1, "sequence", "seq", "row 1: header must start with"),
    (3, ",250,", ",x250,", "row 3: column 'frames': 'x250' is not int"),
    (2, "VoxCeleb", "CFVQA", "row 2: sequence VOXCELEB_001 belongs to class VoxCeleb"),
    (4, ",QP42,", ",QP22,", "row 4: duplicate RD point"),
    (5, ",250,", ",125,", "row 5: kbps"),
    (2, ",GFVC,", ",,", "row 2: column 'codec' is empty"),
])
def test_loader_names_file_and_row(tmp_path, line, old, new, message):
    path = _edit(tmp_path, line, old, new)
    with pytest.raises(ResultFormatError) as e:
        load_results(tmp_path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_loader_rejects_bad_metric_cell_and_missing_provenance(tmp_path):
    table = make_table({"GFVC": 1.0}, sequences=("VOXCELEB_001",))
    write_results(tmp_path, table, make_provenance())
    path = tmp_path / "results.csv"
    text = path.read_text().splitlines()
    cells = text[2].split(",")
    cells[-1] = "nan"
    text[2] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(ResultFormatError, match="row 3: column 'lpips_vgg': 'nan' is not finite"):
        load_results(tmp_path)
    (tmp_path / "provenance.json").write_text(json.dumps({"date": "x"}))
    write_results(tmp_path / "ok", table, make_provenance())
    (tmp_path / "ok" / "provenance.json").write_text(json.dumps({"date": "x"}))
    with pytest.raises(ResultFormatError, match="software.name"):
        load_results(tmp_path / "ok")
    (tmp_path / "ok" / "provenance.json").unlink()
    with pytest.raises(ResultFormatError, match="missing provenance"):
        load_results(tmp_path / "ok")
    with pytest.raises(ResultFormatError, match="no such result table"):
        load_results(tmp_path / "nothing")
