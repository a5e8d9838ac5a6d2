"""The report's workbook, laid out like the JVET CTC reporting templates: sheet order, class
grouping, the same numbers as bdrate.csv, N/A with a comment, unavailable metrics listed once and
left out, text that is never a formula, byte-identical reruns."""
from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook

from gfvc.evaluation import ResultTable, make_provenance, write_report, write_results
from gfvc.evaluation.cli import main
from gfvc.evaluation.xlsx import rate_point_order, sheet_titles
from test_evaluation_results import make_table

SHOWN = ["psnr_yuv", "lpips_vgg"]
EMPTY = "dists"  # not computed in this run: its column is empty
WHY = "no VGG-16 weight file (set GFVC_VGG16_WEIGHTS)"
NA_REASON = "test has 3 RD points, 4 needed"


def run_table() -> ResultTable:
    """VTM (anchor), GFVC and MINE (tests) on two VoxCeleb and one CFVQA sequence; dists empty;
    GFVC lacks its QP52 point on CFVQA_001 (its BD cells there are N/A)."""
    table = make_table({"VTM": 1.0, "GFVC": 0.6, "MINE": 1.25})
    rows = [r for r in table.rows if not (r.codec == "GFVC" and r.sequence == "CFVQA_001" and r.rate_point == "QP52")]
    for r in rows:
        r.metrics[EMPTY] = None
    return ResultTable(rows, SHOWN + [EMPTY])


def report(table, out, **kw):
    return write_report(table, ["VTM"], SHOWN + [EMPTY], out, unavailable={EMPTY: WHY}, **kw)


def values(ws):
    return [[c.value for c in row] for row in ws.iter_rows()]


def summary_tables(ws) -> dict:
    """{(anchor, test): [(row kind, class, sequence, metric cells)]} of a BD sheet; row kind is
    'heading' for a class heading row."""
    tables, current, header = {}, None, None
    for row in ws.iter_rows():
        a = row[0].value
        if isinstance(a, str) and ": anchor " in a:
            anchor, test = a.split(": anchor ")[1].split(", test ")
            current = tables.setdefault((anchor, test), [])
            header = None
        elif current is not None and a == "Class":
            header = [c.value for c in row[2:] if c.value is not None]
        elif current is not None and header is not None and a is not None:
            kind = "heading" if row[1].value is None else "row"
            current.append((kind, a, row[1].value, row[2:2 + len(header)], header))
        elif a is None:
            current = None
    return tables


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def workbook(tmp_path_factory):
    paths = report(run_table(), tmp_path_factory.mktemp("report"))
    return paths, load_workbook(paths["xlsx"])


def test_sheets_in_template_order(workbook):
    _, wb = workbook
    assert wb.sheetnames == ["Summary", "BD-quality", "VTM", "GFVC", "MINE"]
    assert wb["VTM"]["A1"].value.startswith("VTM (anchor)") and wb["GFVC"]["A1"].value.startswith("GFVC (test)")


@pytest.mark.parametrize("sheet,csv_name", [("Summary", "bdrate_csv"), ("BD-quality", "bdquality_csv")])
def test_summary_holds_the_csv_values_grouped_by_class(workbook, sheet, csv_name):
    paths, wb = workbook
    tables = summary_tables(wb[sheet])
    assert list(tables) == [("VTM", "GFVC"), ("VTM", "MINE")]
    rows = csv_rows(paths[csv_name])
    assert rows[0][4:] == SHOWN + [EMPTY]  # the CSV keeps every metric column
    expected = {(r[0], r[1], r[2], r[3]): dict(zip(rows[0][4:], r[4:])) for r in rows[1:]}
    seen = set()
    for (anchor, test), body in tables.items():
        assert body[0][4] == SHOWN  # the empty metric has no column
        # A class heading row, its sequences, its average; the overall average last.
        layout = [(kind, cls, seq) for kind, cls, seq, _, _ in body]
        assert layout == [("heading", "VoxCeleb", None), ("row", "VoxCeleb", "VOXCELEB_001"),
                          ("row", "VoxCeleb", "VOXCELEB_002"), ("row", "VoxCeleb", "Average"),
                          ("heading", "CFVQA", None), ("row", "CFVQA", "CFVQA_001"), ("row", "CFVQA", "Average"),
                          ("row", "All", "Average")]
        for kind, cls, seq, cells, header in body:
            if kind == "heading":
                continue
            key = (anchor, test, cls, seq)
            seen.add(key)
            for m, cell in zip(header, cells):
                text = expected[key][m]
                if text.startswith("N/A ("):
                    assert cell.value == "N/A"
                else:
                    assert isinstance(cell.value, (int, float)) and cell.value == float(text)
    assert seen == set(expected)


def test_na_cells_have_a_comment_once_per_column_and_a_note(workbook):
    paths, wb = workbook
    ws = wb["Summary"]
    gfvc = summary_tables(ws)[("VTM", "GFVC")]
    cfvqa = next(cells for kind, cls, seq, cells, _ in gfvc if seq == "CFVQA_001")
    for cell in cfvqa:
        assert cell.value == "N/A" and cell.comment is not None and cell.comment.text == NA_REASON
    # The reason is never a cell's text except its one line in the Notes.
    texts = [v for row in values(ws) for v in row if isinstance(v, str) and NA_REASON in v]
    assert texts == [f"N/A: {NA_REASON} (4 cells: Summary, BD-quality)"]
    notes_row = next(i for i, row in enumerate(values(ws)) if row[0] == "Notes")
    assert any(NA_REASON in (row[0] or "") for row in values(ws)[notes_row:notes_row + 5])
    # Codec sheet: GFVC has no QP52 point on CFVQA_001: its block is N/A, commented once.
    g = wb["GFVC"]
    rows = values(g)
    assert [v for v in rows[1] if v is not None] == ["QP22", "QP32", "QP42", "QP52"]
    assert rows[2] == ["Sequence"] + (["kbps"] + SHOWN) * 4
    cfvqa_row = next(i for i, row in enumerate(rows, start=1) if row[0] == "CFVQA_001")
    block = [g.cell(cfvqa_row, c) for c in range(2 + 3 * 3, 2 + 3 * 4)]
    assert [c.value for c in block] == ["N/A"] * 3
    assert [c.comment.text if c.comment else None for c in block] == ["no RD point QP52 for this sequence", None, None]


def test_codec_sheets_hold_every_point_highest_rate_first(workbook):
    _, wb = workbook
    table = run_table()
    for codec in ("VTM", "GFVC", "MINE"):
        rows = values(wb[codec])
        assert rows[3] == ["VoxCeleb"] + [None] * (len(rows[3]) - 1)  # class heading rows
        assert [r[0] for r in rows[3:]] == ["VoxCeleb", "VOXCELEB_001", "VOXCELEB_002", "CFVQA", "CFVQA_001"]
        assert EMPTY not in rows[2]
        for row in rows[4:]:
            if row[0] in ("VoxCeleb", "CFVQA"):
                continue
            points = table.select(codec, row[0])[::-1]
            for k, p in enumerate(points):
                kbps, psnr, lpips = row[1 + 3 * k:4 + 3 * k]
                assert kbps == round(p.kbps, 4) and psnr == round(p.metrics["psnr_yuv"], 6)
                assert lpips == round(p.metrics["lpips_vgg"], 6)
            kbps = [row[1 + 3 * k] for k in range(len(points))]
            assert kbps == sorted(kbps, reverse=True)


def test_unavailable_metric_listed_once(workbook):
    _, wb = workbook
    hits = [(ws.title, v) for ws in wb for row in values(ws) for v in row
            if isinstance(v, str) and (EMPTY in v or WHY in v)]
    assert hits == [("Summary", f"Not computed: {EMPTY} because {WHY} (no column for it in this workbook)")]


def test_workbook_bytes_are_identical_on_a_rerun(tmp_path, monkeypatch):
    """A rerun years later (the clock openpyxl and zipfile stamp with is moved) on the rows in
    another order gives the same bytes."""
    import datetime
    import types
    import zipfile

    import openpyxl.writer.excel

    table = run_table()
    a = report(table, tmp_path / "a")["xlsx"].read_bytes()

    later = datetime.datetime(2031, 7, 9, 13, 14, 15)

    class Clock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return later.replace(tzinfo=tz)

    monkeypatch.setattr(openpyxl.writer.excel, "datetime", types.SimpleNamespace(datetime=Clock,
                                                                                   timezone=datetime.timezone))
    monkeypatch.setattr(zipfile, "time", types.SimpleNamespace(time=later.timestamp, localtime=lambda t=None:
                                                               later.timetuple()))
    b = report(ResultTable(list(reversed(table.rows)), table.metrics), tmp_path / "b")["xlsx"].read_bytes()
    assert a == b


def test_names_are_text_and_titles_follow_excel_rules(tmp_path):
    table = make_table({"VTM": 1.0, "=HYPERLINK(\"x\")": 0.6})
    paths = write_report(table, ["VTM"], SHOWN, tmp_path)
    wb = load_workbook(paths["xlsx"])
    title = wb.sheetnames[3]
    assert title == '=HYPERLINK("x")'
    cell = wb[title]["A1"]
    assert cell.data_type == "s" and cell.value.startswith('=HYPERLINK("x") (test)')
    titles = sheet_titles(["a/b:c", "x" * 40, "x" * 40 + "y", "summary", "'q'"])
    assert titles == {"a/b:c": "a_b_c", "x" * 40: "x" * 31, "x" * 40 + "y": "x" * 29 + "~2",
                      "summary": "summary~2", "'q'": "q"}


def test_rate_point_order_falls_back_to_positions():
    from gfvc.evaluation.results import ResultRow

    def curve(*labels):
        return [ResultRow("S", "C", "X", label, 1, 1.0, 1, 1.0) for label in labels]

    assert rate_point_order([curve("QP22", "QP32"), curve("QP22", "QP32", "QP42")]) == ["QP22", "QP32", "QP42"]
    assert rate_point_order([curve("QP22", "QP32"), curve("QP32", "QP22")]) is None


def test_cli_takes_unavailable_metrics_from_provenance(tmp_path, capsys):
    table = run_table()
    prov = make_provenance(unavailable_metrics={EMPTY: WHY})
    write_results(tmp_path / "anchor", ResultTable([r for r in table.rows if r.codec == "VTM"], table.metrics), prov)
    write_results(tmp_path / "test", ResultTable([r for r in table.rows if r.codec != "VTM"], table.metrics), prov)
    rc = main([str(tmp_path / "test"), "--anchor", str(tmp_path / "anchor"), "-o", str(tmp_path / "r")])
    assert rc == 0, capsys.readouterr().err
    ws = load_workbook(tmp_path / "r" / "bdrate.xlsx")["Summary"]
    assert f"Not computed: {EMPTY} because {WHY} (no column for it in this workbook)" in [r[0] for r in values(ws)]
