"""An experiment tracker beside TensorBoard: MLflow, switched on by ``mlflow=<folder or tracking URI>``.

Optional (``pip install 'unidgm[mlflow]'``, which brings ``mlflow-skinny``; never a base dependency).
A run logs its resolved config as params once, every metrics.jsonl line as metrics at its step, and its
sample grids as artifacts under ``samples/`` when it closes. A folder becomes MLflow's local file store
(``file://`` URI); anything with a scheme (``sqlite:///mlflow.db``, ``http://host:5000``) is passed through.
The MLflow run id is kept in ``RUN/mlflow.json`` so that ``--resume`` continues the same MLflow run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError
from .checkpoint import atomic_write_text

RECORD = "mlflow.json"
EXPERIMENT = "unidgm"


def require() -> None:
    """Fail before a run starts when tracking is asked for but MLflow is not installed."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError("mlflow=... needs the optional MLflow package: pip install 'unidgm[mlflow]' "
                          "(or pip install mlflow-skinny), or drop the mlflow setting") from None


def tracking_uri(target: str) -> str:
    """A folder → its absolute ``file://`` URI (MLflow's local file store); a URI is returned unchanged."""
    if "://" in target or target.startswith(("file:", "sqlite:", "databricks")):
        return target
    return Path(target).expanduser().absolute().as_uri()


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """Nested config dict → {"train.steps": "1000", ...} (MLflow params are flat strings)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
    return out


class MLflowTracker:
    """Logs one unidgm run into one MLflow run (created, or continued on resume)."""

    def __init__(self, target: str, run_path: Path, config: dict):
        require()
        from mlflow.tracking import MlflowClient
        self.uri = tracking_uri(target)
        if self.uri.startswith("file:"):
            # MLflow 3 keeps the file store in maintenance mode behind this opt-in; it is the one backend
            # that needs no database server or SQLAlchemy, which is what a local, optional tracker wants
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=self.uri)
        self.run_path = Path(run_path)
        record = self._record()
        if record is not None:
            self.run_id = record["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(EXPERIMENT)
        run = self.client.create_run(exp_id, run_name=self.run_path.name,
                                     tags={"unidgm.run_folder": str(self.run_path.absolute()),
                                           "unidgm.model": str(config.get("model")),
                                           "unidgm.data": str(config.get("data"))})
        self.run_id = run.info.run_id
        params = flatten(config)
        from mlflow.entities import Param
        self.client.log_batch(self.run_id, params=[Param(k, v[:6000]) for k, v in sorted(params.items())])
        atomic_write_text(self.run_path / RECORD, json.dumps({"tracking_uri": self.uri, "run_id": self.run_id,
                                                              "experiment_id": exp_id}, indent=2))

    def _record(self) -> dict | None:
        """The MLflow run this run folder logged into before, if it used the same tracking URI."""
        f = self.run_path / RECORD
        try:
            record = json.loads(f.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("tracking_uri") == self.uri else None

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, int(step)) for k, v in values.items() if isinstance(v, (int, float))]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, samples: Path, finished: bool) -> None:
        for grid in sorted(Path(samples).glob("*.png")):
            self.client.log_artifact(self.run_id, str(grid), "samples")
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")
