"""Multi-seed tables, classification accuracy, domain-adaptation report and the METRICS registry."""

import csv
import json
import math

import pytest
import torch
from torch import nn

from unidgm.errors import DataError
from unidgm.eval import (METRICS, classification_accuracy, domain_adaptation_report, format_mean_std, summarise,
                         write_table)


def test_summarise_and_format():
    assert summarise([1.0, 2.0, 3.0]) == (2.0, 1.0)  # ddof = 1
    assert summarise([5.0]) == (5.0, 0.0)
    assert summarise(x for x in (0.9, 0.9)) == (pytest.approx(0.9), 0.0)
    assert math.isnan(summarise([1.0, float("nan")])[0])
    with pytest.raises(DataError):
        summarise([])
    assert format_mean_std(98.123, 0.051, 2) == "98.12 ± 0.05"
    assert format_mean_std(1.0, 0.0, 0) == "1 ± 0"


def test_write_table_markdown_csv_json(tmp_path):
    rows = [
        {"model": "VAE", "acc": summarise([0.9, 0.92, 0.94]), "seeds": 3},
        {"model": "AAVAE|x", "acc": (0.95, 0.01), "seeds": 3, "ignored": 1},
        {"model": "GAN", "acc": None, "seeds": 1},
    ]
    paths = write_table(rows, ["model", "acc", "seeds"], tmp_path / "out" / "table2", digits=3)
    md = paths["md"].read_text(encoding="utf-8").splitlines()
    assert md[0] == "| model | acc | seeds |"
    assert md[2] == "| VAE | 0.920 ± 0.020 | 3 |"
    assert md[3] == "| AAVAE\\|x | 0.950 ± 0.010 | 3 |"
    assert md[4] == "| GAN |  | 1 |"
    with open(paths["csv"], encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert table == [["model", "acc", "seeds"], ["VAE", "0.920 ± 0.020", "3"], ["AAVAE|x", "0.950 ± 0.010", "3"],
                     ["GAN", "", "1"]]
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["columns"] == ["model", "acc", "seeds"]
    assert data["rows"][0]["acc"] == {"mean": pytest.approx(0.92), "std": pytest.approx(0.02), "text": "0.920 ± 0.020"}
    assert data["rows"][2] == {"model": "GAN", "acc": None, "seeds": 1}
    assert paths["md"].name == "table2.md"
    # default columns: keys in order of first appearance
    paths = write_table([{"a": 1.5}, {"b": "x"}], path_stem=tmp_path / "t")
    assert paths["csv"].read_text() == "a,b\n1.50,\n,x\n"


def test_classification_accuracy_logits_labels_and_mode_restore():
    x = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert classification_accuracy(lambda xb: xb, x, y, batch_size=3) == 0.75
    assert classification_accuracy(lambda xb: xb.argmax(1), x, y) == 0.75
    net = nn.Sequential(nn.Dropout(0.9), nn.Identity())
    net.train()
    assert classification_accuracy(net, x, y) == 0.75  # eval mode: dropout off
    assert net.training
    with pytest.raises(DataError):
        classification_accuracy(lambda xb: xb[:, 0], x, y)


def test_domain_adaptation_report():
    r = domain_adaptation_report(0.8, 0.6)
    assert r["target_accuracy"] == 0.8 and r["source_only_accuracy"] == 0.6
    assert r["gain"] == pytest.approx(0.2) and r["relative_error_reduction"] == pytest.approx(0.5)
    with pytest.raises(DataError):
        domain_adaptation_report(80.0, 60.0)


def test_metrics_registry():
    assert set(METRICS) == {"elbo", "elbo_T", "log_likelihood", "ais", "inception_score", "fid", "cond_accuracy",
                            "ssl_accuracy", "modes", "da_accuracy"}
    assert all(isinstance(v, str) and v and "\n" not in v for v in METRICS.values())
    assert "classifier-FID" in METRICS["fid"]
