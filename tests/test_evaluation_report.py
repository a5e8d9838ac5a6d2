"""gfvc-bdrate end to end: CSV, XLSX (same numbers), Markdown, a PNG per metric, determinism, N/A."""
from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from gfvc.evaluation import ResultTable, make_provenance, write_report, write_results
from gfvc.evaluation.cli import main
from test_evaluation_results import make_table
from test_evaluation_xlsx import summary_tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METRICS = ["psnr_yuv", "lpips_vgg"]


@pytest.fixture()
def stores(tmp_path):
    """An anchor store (VTM) and a test store (GFVC at 0.6x the rate, MINE at 1.25x)."""
    both = make_table({"VTM": 1.0, "GFVC": 0.6, "MINE": 1.25})
    prov = make_provenance(date="2026-11-22T00:00:00Z")
    anchor = ResultTable([r for r in both.rows if r.codec == "VTM"], METRICS)
    test = ResultTable([r for r in both.rows if r.codec != "VTM"], METRICS)
    write_results(tmp_path / "anchor", anchor, prov)
    write_results(tmp_path / "test", test, prov)
    return tmp_path


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_cli_writes_tables_and_plots(stores, capsys):
    out = stores / "report"
    rc = main([str(stores / "test"), "--anchor", str(stores / "anchor"), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    rows = _csv_rows(out / "bdrate.csv")
    assert rows[0] == ["anchor", "test", "dataset_class", "sequence"] + METRICS
    expected = {"GFVC": -40.0, "MINE": 25.0}  # the rate factors, in percent, for every metric
    body = rows[1:]
    assert {r[1] for r in body} == {"GFVC", "MINE"} and {r[0] for r in body} == {"VTM"}
    for r in body:
        for cell in r[4:]:
            assert float(cell) == pytest.approx(expected[r[1]], abs=1e-4)
    averages = [(r[1], r[2]) for r in body if r[3] == "Average"]
    assert averages == [("GFVC", "VoxCeleb"), ("GFVC", "CFVQA"), ("GFVC", "All"),
                        ("MINE", "VoxCeleb"), ("MINE", "CFVQA"), ("MINE", "All")]

    # The XLSX summary holds the same numbers as the CSV (tests/test_evaluation_xlsx.py has the layout).
    wb = load_workbook(out / "bdrate.xlsx")
    assert wb.sheetnames == ["Summary", "BD-quality", "VTM", "GFVC", "MINE"]
    tables = summary_tables(wb["Summary"])
    xlsx_values = [(a, t, cls, seq, [c.value for c in cells]) for (a, t), body in tables.items()
                   for kind, cls, seq, cells, _ in body if kind == "row"]
    assert sorted((r[0], r[1], r[2], r[3], [float(v) for v in r[4:]]) for r in body) == sorted(xlsx_values)
    for m in METRICS:
        for name in (f"rd_{m}.png", f"rd_{m}_per_sequence.png"):
            assert (out / name).read_bytes().startswith(PNG_SIGNATURE)
    md = (out / "bdrate.md").read_text()
    assert "### Anchor VTM, test GFVC" in md and "-40.00%" in md
    assert (out / "inputs.json").is_file()


def test_report_is_byte_deterministic(stores):
    table = make_table({"VTM": 1.0, "GFVC": 0.6})
    a = write_report(table, ["VTM"], METRICS, stores / "a")
    b = write_report(ResultTable(list(reversed(table.rows)), METRICS), ["VTM"], METRICS, stores / "b")
    assert set(a) == set(b)
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key


def test_na_cells_and_averages(tmp_path):
    table = make_table({"VTM": 1.0, "GFVC": 0.6})
    # One sequence of the test codec loses a rate point: its cells and its class average are N/A.
    table.rows = [r for r in table.rows if not (r.codec == "GFVC" and r.sequence == "CFVQA_001"
                                                and r.rate_point == "QP52")]
    paths = write_report(table, ["VTM"], METRICS, tmp_path)
    rows = {(r[2], r[3]): r[4:] for r in _csv_rows(paths["bdrate_csv"])[1:]}
    assert rows[("CFVQA", "CFVQA_001")][0] == "N/A (test has 3 RD points, 4 needed)"
    assert rows[("CFVQA", "Average")][0] == "N/A (1 of 1 sequences N/A)"
    assert rows[("All", "Average")][0] == "N/A (1 of 3 sequences N/A)"
    assert float(rows[("VoxCeleb", "Average")][0]) == pytest.approx(-40.0, abs=1e-4)
    ws = load_workbook(paths["xlsx"])["Summary"]
    comments = [c.comment.text for row in ws.iter_rows() for c in row if c.value == "N/A" and c.comment]
    assert "test has 3 RD points, 4 needed" in comments


def test_bd_quality_table(tmp_path):
    table = make_table({"VTM": 1.0, "GFVC": 1.0}, quality_offset={"GFVC": 0.5})
    paths = write_report(table, ["VTM"], ["psnr_yuv"], tmp_path)
    rows = _csv_rows(paths["bdquality_csv"])[1:]
    assert all(float(r[4]) == pytest.approx(0.5, abs=1e-6) for r in rows)


@pytest.mark.parametrize("extra,message", [
    (["--metrics", "psnr_q"], "unknown metric 'psnr_q'"),
    (["--anchor-codec", "HM"], "anchor codec(s) HM not in the anchor stores"),
])
def test_cli_errors_are_one_line(stores, capsys, extra, message):
    rc = main([str(stores / "test"), "--anchor", str(stores / "anchor"), "-o", str(stores / "r")] + extra)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (stores / "r" / "bdrate.csv").exists()


def test_cli_rejects_missing_store_and_same_codec_twice(stores, capsys):
    assert main([str(stores / "nope"), "--anchor", str(stores / "anchor"), "-o", str(stores / "r")]) == 2
    assert "no such result table" in capsys.readouterr().err
    assert main([str(stores / "anchor"), "--anchor", str(stores / "anchor"), "-o", str(stores / "r")]) == 2
    assert "VTM appear in both test and anchor stores" in capsys.readouterr().err


def _spoil(store, csv_edit=None, provenance_text=None):
    if csv_edit is not None:
        path = store / "results.csv"
        path.write_text(csv_edit(path.read_text()))
    if provenance_text is not None:
        (store / "provenance.json").write_text(provenance_text)


@pytest.mark.parametrize("case,message", [
    ("huge_field", "row 2: a cell is longer than 131072 characters"),
    ("nul_in_codec", "row 2: column 'codec' holds the control or format character U+0000"),
    ("newline_in_sequence", "column 'sequence' holds the control or format character U+000A"),
    ("long_codec", "column 'codec' is 300 characters long (at most 200)"),
    ("deep_provenance", "the provenance record nests more than 64 levels deep"),
    ("very_deep_provenance", "the provenance record nests more than 64 levels deep"),
    ("provenance_is_a_directory", "provenance.json is a directory, not a regular file"),
    ("results_not_utf8", "is not UTF-8 text (byte 0xff"),
])
def test_hostile_stores_give_one_line_errors(stores, capsys, case, message):
    """A store a careless or hostile user made: one line naming the file and row, never a traceback."""
    test = stores / "test"
    lines = lambda text: text.splitlines(keepends=True)  # noqa: E731
    if case == "huge_field":
        _spoil(test, lambda t: "".join(lines(t)[:1] + [lines(t)[1].replace("GFVC", "G" * 200_000, 1)]
                                       + lines(t)[2:]))
    elif case == "nul_in_codec":
        _spoil(test, lambda t: t.replace("GFVC", "GF\x00VC"))
    elif case == "newline_in_sequence":
        _spoil(test, lambda t: t.replace("VOXCELEB_001,", '"VOXCELEB\n001",'))
    elif case == "long_codec":
        _spoil(test, lambda t: t.replace("GFVC", "G" * 300))
    elif case == "deep_provenance":
        _spoil(test, provenance_text='{"software": {"name": "gfvc", "version": "1"}, "x": '
                                     + "[" * 70 + "]" * 70 + "}")
    elif case == "very_deep_provenance":
        _spoil(test, provenance_text='{"software": {"name": "gfvc", "version": "1"}, "x": '
                                     + "[" * 200_000 + "]" * 200_000 + "}")
    elif case == "provenance_is_a_directory":
        (test / "provenance.json").unlink()
        (test / "provenance.json").mkdir()
    elif case == "results_not_utf8":
        (test / "results.csv").write_bytes((test / "results.csv").read_bytes() + b"\xff\n")
    rc = main([str(test), "--anchor", str(stores / "anchor"), "-o", str(stores / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err, err[:300]
    assert not (stores / "r").exists()


def test_writer_refuses_names_no_reader_accepts(tmp_path):
    """A name the reader would refuse is refused when the store is written, not after."""
    from gfvc.evaluation.results import ResultFormatError

    table = make_table({"GF\tVC": 1.0})
    with pytest.raises(ResultFormatError, match="codec 'GF\\\\tVC' holds the control or format character U\\+0009"):
        write_results(tmp_path / "s", table, make_provenance())
    deep: list = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ResultFormatError, match="nests more than 64 levels deep"):
        write_results(tmp_path / "s", make_table({"GFVC": 1.0}), make_provenance(x=deep))
    assert not (tmp_path / "s" / "results.csv").exists()
