"""The project's one report writer: Markdown tables, CSV, JSON and the machine description."""

import json

from unidgm.report import csv_text, machine, markdown_table, md_row, write_csv, write_json, write_text


def test_markdown_table_header_separator_rows_and_escaped_cells():
    lines = markdown_table(["component", "vae"], [["decoder", "p(x|z)"], ["steps", 3], ["note", "two\nlines"]])
    assert lines == ["| component | vae |", "|---|---|", "| decoder | p(x\\|z) |", "| steps | 3 |",
                     "| note | two lines |"]
    assert md_row(["a", "", "b"]) == "| a |  | b |"  # an empty cell keeps its column


def test_csv_columns_in_first_appearance_order_missing_cells_empty():
    rows = [{"model": "vae", "elbo": -98.5}, {"model": "gan", "fid": 12.0, "note": "a, b"}]
    assert csv_text(rows) == 'model,elbo,fid,note\nvae,-98.5,,\ngan,,12.0,"a, b"\n'
    assert csv_text(rows, ["model", "fid"], line_end="\r\n") == "model,fid\r\nvae,\r\ngan,12.0\r\n"


def test_files_are_written_whole_into_new_folders(tmp_path):
    path = write_json(tmp_path / "a" / "t.json", {"x": 1.5, "s": "±"}, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == '{\n  "x": 1.5,\n  "s": "±"\n}\n'
    write_csv(tmp_path / "b" / "t.csv", [{"a": 1}])
    write_text(tmp_path / "c" / "t.md", "| a |\n")
    assert (tmp_path / "b" / "t.csv").read_text() == "a\n1\n" and (tmp_path / "c" / "t.md").read_text() == "| a |\n"
    assert not list(tmp_path.rglob("*.tmp"))  # the atomic writer's temporary file is gone


def test_machine_description_has_what_every_report_prints():
    m = machine()
    keys = {"unidgm", "torch", "numpy", "python", "platform", "host", "processor", "cpu", "cpu_count",
            "torch_threads", "cuda", "device", "git_commit"}
    assert set(m) == keys
    assert m["cpu_count"] >= 1 and m["torch_threads"] >= 1 and m["cpu"]
    assert m["device"] == "cpu" or m["cuda"]
    json.dumps(m)  # stored as is in every report's JSON
