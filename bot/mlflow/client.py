"""A small client of MLflow's REST API: timeouts, retries with backoff, auth, no pickles.

Only what mlgov needs: runs (search, get, tag), one artifact file of an evaluation's
formats, and the model registry's versions, tags and aliases. The token is sent in the
Authorization header and appears in no log line, error or repr.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import PurePosixPath
from typing import IO, Any

from bot.config import Settings
from bot.domain.errors import MlflowError, MlflowUnavailable, ValidationError
from bot.domain.ingest import MAX_BYTES
from bot.domain.mlflow_runs import ARTIFACT_SUFFIXES as MLFLOW_ARTIFACT_SUFFIXES
from bot.mlflow.entities import ArtifactFile, ModelVersion, RegisteredModel, Run

log = logging.getLogger(__name__)

API = "/api/2.0/mlflow/"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# runs/search takes the experiments to look in; MLflow caps max_results at 50,000.
RUNS_PAGE, EXPERIMENTS_PAGE = 1000, 1000


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would carry the Authorization header to wherever a redirect points."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError with the 3xx code


class MlflowClient:
    """MLflow's REST API at ``base_url``; every method may raise MlflowError."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout, self.attempts, self.backoff, self.sleep = timeout, attempts, backoff, sleep
        self.max_bytes = max_bytes  # an upload's limit: the same for a file from MLflow
        self._headers = {"Accept": "application/json", "User-Agent": "mlgov"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username and password:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {pair}"
        self._opener = urllib.request.build_opener(_NoRedirects())

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> MlflowClient:
        """The client of the configured server; ConfigError when MLflow is off."""
        return cls(
            settings.require_mlflow(),
            token=settings.mlflow_tracking_token,
            username=settings.mlflow_username,
            password=settings.mlflow_password,
            **options,
        )

    def __repr__(self) -> str:
        return f"MlflowClient({self.base_url!r})"

    def run_url(self, run: Run) -> str:
        """The run's page in MLflow's UI."""
        return f"{self.base_url}/#/experiments/{run.experiment_id}/runs/{run.run_id}"

    # --- tracking -------------------------------------------------------------------

    def search_experiment_ids(self) -> list[str]:
        """Every active experiment's id (runs/search must name the experiments)."""
        ids: list[str] = []
        token = ""
        while True:
            body: dict[str, Any] = {"max_results": EXPERIMENTS_PAGE, "view_type": "ACTIVE_ONLY"}
            if token:
                body["page_token"] = token
            page = self._call("POST", "experiments/search", body=body)
            ids += [str(e["experiment_id"]) for e in page.get("experiments") or ()]
            token = page.get("next_page_token") or ""
            if not token:
                return ids

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] = (),
        page_token: str = "",
        max_results: int = RUNS_PAGE,
    ) -> tuple[list[Run], str]:
        """One page of runs matching ``filter_string`` and the page token of the next."""
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string,
            "max_results": max_results,
            "order_by": list(order_by),
            "run_view_type": "ACTIVE_ONLY",
        }
        if page_token:
            body["page_token"] = page_token
        page = self._call("POST", "runs/search", body=body)
        runs = [Run.from_json(r) for r in page.get("runs") or ()]
        return runs, str(page.get("next_page_token") or "")

    def iter_runs(
        self, experiment_ids: Sequence[str], filter_string: str = "", order_by: Sequence[str] = ()
    ) -> Iterator[Run]:
        """Every run matching ``filter_string``, page after page."""
        token = ""
        while True:
            runs, token = self.search_runs(experiment_ids, filter_string, order_by, token)
            yield from runs
            if not token:
                return

    def get_run(self, run_id: str) -> Run:
        return Run.from_json(self._call("GET", "runs/get", params={"run_id": run_id})["run"])

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        self._call("POST", "runs/set-tag", body={"run_id": run_id, "key": key, "value": value})

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactFile]:
        """The files and folders directly under ``path`` in the run's artifacts."""
        files: list[ArtifactFile] = []
        token = ""
        while True:
            params = {"run_id": run_id, "path": path}
            if token:
                params["page_token"] = token
            page = self._call("GET", "artifacts/list", params=params)
            files += [ArtifactFile.from_json(f) for f in page.get("files") or ()]
            token = page.get("next_page_token") or ""
            if not token:
                return files

    def download_artifact(self, run_id: str, path: str) -> bytes:
        """One evaluation file of the run (.csv, .parquet, .json), at most ``max_bytes``.

        Anything else is refused before a byte is fetched: mlgov never downloads model
        files, which may be pickles.
        """
        suffix = PurePosixPath(path).suffix.lower()
        if suffix not in MLFLOW_ARTIFACT_SUFFIXES or ".." in path.split("/"):
            raise ValidationError(
                f"I only read predictions files ({', '.join(MLFLOW_ARTIFACT_SUFFIXES)}) from"
                f" MLflow, not {path!r}."
            )
        query = urllib.parse.urlencode({"run_id": run_id, "path": path})
        data = self._request("GET", f"/get-artifact?{query}", None, limit=self.max_bytes + 1)
        if len(data) > self.max_bytes:
            cap = self.max_bytes
            limit = f"{cap // 2**20} MB" if cap >= 2**20 else f"{cap:,} bytes"
            raise ValidationError(f"{path} is over the {limit} limit. Sample the held-out set.")
        return data

    # --- model registry -------------------------------------------------------------

    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model with its aliases (alias -> version)."""
        page = self._call("GET", "registered-models/get", params={"name": name})
        return RegisteredModel.from_json(page["registered_model"])

    def get_latest_versions(self, name: str) -> list[ModelVersion]:
        """The newest version of the model in each stage."""
        page = self._call("POST", "registered-models/get-latest-versions", body={"name": name})
        return [ModelVersion.from_json(v) for v in page.get("model_versions") or ()]

    def search_model_versions(
        self, filter_string: str = "", order_by: Sequence[str] = (), page_token: str = ""
    ) -> tuple[list[ModelVersion], str]:
        """One page of model versions (e.g. ``name = 'churn'``) and the next page's token."""
        params: dict[str, Any] = {"filter": filter_string, "max_results": 1000}
        if order_by:
            params["order_by"] = list(order_by)
        if page_token:
            params["page_token"] = page_token
        page = self._call("GET", "model-versions/search", params=params)
        versions = [ModelVersion.from_json(v) for v in page.get("model_versions") or ()]
        return versions, str(page.get("next_page_token") or "")

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        page = self._call("GET", "model-versions/get", params={"name": name, "version": version})
        return ModelVersion.from_json(page["model_version"])

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        page = self._call("GET", "registered-models/alias", params={"name": name, "alias": alias})
        return ModelVersion.from_json(page["model_version"])

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self._call("POST", "model-versions/set-tag", body=body)

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        body = {"name": name, "version": version, "key": key}
        self._call("DELETE", "model-versions/delete-tag", body=body)

    # --- transport ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One REST call; the JSON answer, or MlflowError with MLflow's own message."""
        path = API + endpoint
        if params:
            path += "?" + urllib.parse.urlencode(params, doseq=True)
        data = self._request(method, path, body)
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise MlflowError(f"MLflow answered {endpoint} with something that is not JSON.")
        return answer

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, limit: int = -1
    ) -> bytes:
        """Bytes of a 2xx answer; retries 429/5xx and connection failures with backoff."""
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        endpoint = path.split("?", 1)[0]
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(
                self.base_url + path, data=payload, headers=headers, method=method
            )
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    data: bytes = response.read(limit)
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRY_STATUSES:
                    raise _refusal(exc, endpoint) from None
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt < self.attempts:
                delay = self.backoff * 2 ** (attempt - 1)
                log.warning(
                    "MLflow %s %s failed (%s); retrying in %.1f s", method, endpoint, problem, delay
                )
                self.sleep(delay)
        raise MlflowUnavailable(
            f"MLflow at {self.base_url} did not answer {endpoint} ({problem}) after"
            f" {self.attempts} tries."
        )


def _refusal(exc: urllib.error.HTTPError, endpoint: str) -> MlflowError:
    """MLflow's error JSON as an MlflowError (its message, never our request's headers)."""
    try:
        detail = json.loads(exc.read(64 * 1024) or b"{}")
    except (ValueError, OSError):
        detail = {}
    if not isinstance(detail, dict):
        detail = {}
    code = str(detail.get("error_code") or "")
    message = str(detail.get("message") or exc.reason or "")
    if 300 <= exc.code < 400:
        message = "it redirected; set MLFLOW_TRACKING_URI to the server's final address"
    elif exc.code in (401, 403):
        message = "check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD"
    return MlflowError(f"MLflow refused {endpoint} (HTTP {exc.code}): {message}", code, exc.code)
