"""Human review of a run's synthetic samples in Label Studio, and the decisions the merge honours.

``synthgen review export run_dir=...`` scores every synthetic sample of a finished run by how
much it needs a human (:func:`uncertainty`), creates a Label Studio project with the labeling
interface for the run's kind of labels (classes, boxes, masks or text spans, plus an accept / reject
choice), and imports the most uncertain ``review.max_tasks`` samples as tasks, most uncertain first,
with the generated labels as predictions.  ``synthgen review import run_dir=...`` reads the
reviewers' annotations back into ``<run>/review/decisions.json``; ``synthgen merge run_dir=...`` then
drops rejected samples, merges relabeled ones under their new class, replaces corrected boxes, masks
or spans, and writes every decision (reviewer, time, before / after) into the sample's manifest line.

synthgen talks to Label Studio over its HTTP API with the standard library only (the
``label-studio-sdk`` client pins numpy, pandas and OpenCV versions that clash with synthgen's), so
the server can run anywhere, in an environment of its own.  The API token comes from
``LABEL_STUDIO_API_KEY`` (or ``review.token``): a legacy token is sent as ``Token``, a personal access
token (a JWT) is exchanged for an access token first.  Images travel inside the tasks as PNG data
URIs (``review.images=inline``), so the server needs no access to the run folder; with
``review.images=url`` the task holds ``review.image_url`` + the image's path in ``synthetic/``
instead (for example Label Studio's local-files URL).
"""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, DatasetError, SynthgenError
from .sample import Sample

REVIEW_DIR = "review"
EXPORT_FILE = "export.json"
DECISIONS_FILE = "decisions.json"
DECISIONS_SCHEMA = "synthgen/review-decisions"
TOKEN_ENV = "LABEL_STUDIO_API_KEY"
URL_ENV = "LABEL_STUDIO_URL"
# the score components, in the order ties are explained
COMPONENTS = ("filtered", "label_disagreement", "boundary", "off_support", "near_copy")


class ReviewError(SynthgenError):
    """Label Studio refused a request or a review cannot be read back; the message names what."""


# --- the Label Studio HTTP API ------------------------------------------------------------------

class LabelStudio:
    """The few Label Studio API calls a review needs (``urllib`` only)."""

    def __init__(self, url: str, token: str, timeout: float = 120.0):
        if not url:
            raise ConfigError(f"review.url: missing (the Label Studio server, or set {URL_ENV})")
        if not token:
            raise ConfigError(f"review.token: missing (set {TOKEN_ENV} to a Label Studio API token)")
        self.url, self.token, self.timeout = str(url).rstrip("/"), str(token).strip(), float(timeout)
        self._header: str | None = None

    def _auth(self) -> str:
        if self._header is None:
            if self.token.count(".") == 2 and self.token.startswith("eyJ"):  # a personal access token (JWT refresh)
                access = self.request("POST", "/api/token/refresh", {"refresh": self.token}, auth=False)["access"]
                self._header = f"Bearer {access}"
            else:
                self._header = f"Token {self.token}"
        return self._header

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None, auth: bool = True) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = self._auth()
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:  # the user's own server
                raw = r.read()
        except urllib.error.HTTPError as e:
            detail = " ".join(e.read().decode("utf-8", "replace").split())[:300]
            if e.code in (401, 403):
                raise ReviewError(f"review.token: Label Studio at {self.url} refused it ({e.code} on {method} {path}: {detail})") from None
            raise ReviewError(f"Label Studio {method} {path}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise ReviewError(f"review.url: cannot reach Label Studio at {self.url} ({getattr(e, 'reason', e)})") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ReviewError(f"Label Studio {method} {path}: the answer is not JSON (is {self.url} a Label Studio server?)") from None

    def create_project(self, title: str, label_config: str, description: str = "") -> dict[str, Any]:
        return self.request("POST", "/api/projects", {"title": title, "label_config": label_config,
                                                      "description": description})

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> dict[str, Any]:
        return self.request("POST", f"/api/projects/{int(project)}/import", tasks)

    def tasks(self, project: int) -> list[dict[str, Any]]:
        """Every task of the project with its annotations (the JSON export)."""
        out = self.request("GET", f"/api/projects/{int(project)}/export", query={"exportType": "JSON", "download_all_tasks": "true"})
        if not isinstance(out, list):
            raise ReviewError(f"Label Studio project {project}: the export is not a list of tasks")
        return out

    def create_annotation(self, task: int, result: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return self.request("POST", f"/api/tasks/{int(task)}/annotations", {"result": result, **extra})

    def users(self) -> dict[int, str]:
        """User id -> e-mail (or username) for naming reviewers."""
        try:
            us = self.request("GET", "/api/users")
        except ReviewError:
            return {}
        us = us.get("results", us) if isinstance(us, dict) else us
        return {int(u["id"]): str(u.get("email") or u.get("username") or u["id"]) for u in us or [] if "id" in u}


def client(cfg_review: Any, url: str | None = None) -> LabelStudio:
    r = cfg_review or {}
    return LabelStudio(url or r.get("url") or os.environ.get(URL_ENV), r.get("token") or os.environ.get(TOKEN_ENV),
                       float(r.get("timeout", 120)))


# --- which samples need a human -----------------------------------------------------------------

def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(d, 0.0))


def uncertainty(real_x: np.ndarray, real_labels: list[str], syn_x: np.ndarray, syn_labels: list[str],
                k: int = 5, flagged: set[int] | None = None) -> list[dict[str, float]]:
    """Per synthetic sample, how much it needs a human: each component in [0, 1], 1 = most doubtful.

    Computed in a feature space of the run (standardised, real and synthetic pooled):

    * ``label_disagreement``: share of its ``k`` nearest real samples (all classes) with another label;
    * ``boundary``: nearest real sample of its class / nearest real sample of any other class, capped
      at 1 (1: another class is at least as close: on the class boundary);
    * ``off_support``: share of the real class's own nearest-neighbour distances that are shorter than
      this sample's distance to the class (1: farther from the class than any real sample is);
    * ``near_copy``: 1 - distance to the nearest real sample of its class / the real class's 5 %
      quantile of nearest-neighbour distances, floored at 0 (1: an exact copy);
    * ``filtered``: 1 when the gate's filter dropped it (``report.json`` ``filter.dropped``).

    ``uncertainty`` is the largest component; ``why`` names it.
    """
    from synthgen.validators.distribution import prepare

    flagged = flagged or set()
    xs, ys = prepare(np.asarray(real_x, np.float64), np.asarray(syn_x, np.float64), 64)
    rl, sl = np.asarray(real_labels, dtype=object), np.asarray(syn_labels, dtype=object)
    r1: dict[str, np.ndarray] = {}
    for c in sorted(set(sl.tolist())):
        xc = xs[rl == c]
        if len(xc) >= 2:
            d = _dist(xc, xc)
            np.fill_diagonal(d, np.inf)
            r1[c] = np.sort(d.min(1))
    out = []
    kk = max(1, min(int(k), len(xs)))
    B = max(1, (1 << 22) // max(1, len(xs)))
    for s0 in range(0, len(ys), B):
        D = _dist(ys[s0:s0 + B], xs)
        for j in range(len(D)):
            i, d, c = s0 + j, D[j], sl[s0 + j]
            same, other = d[rl == c], d[rl != c]
            d_same = float(same.min()) if len(same) else np.inf
            d_other = float(other.min()) if len(other) else np.inf
            nn = np.argsort(d, kind="stable")[:kk]
            comp = {"label_disagreement": float(np.mean(rl[nn] != c)),
                    "boundary": float(min(1.0, d_same / d_other)) if np.isfinite(d_other) and d_other > 0 else (1.0 if d_other == 0 else 0.0),
                    "off_support": 0.0, "near_copy": 0.0, "filtered": 1.0 if i in flagged else 0.0}
            if c in r1:
                comp["off_support"] = float(np.searchsorted(r1[c], d_same, side="left") / len(r1[c]))
                q = float(np.quantile(r1[c], 0.05))
                comp["near_copy"] = 1.0 if d_same == 0 else (float(max(0.0, 1.0 - d_same / q)) if q > 0 else 0.0)
            comp = {key: round(v, 6) for key, v in comp.items()}
            why = max(COMPONENTS, key=lambda key: (comp[key], -COMPONENTS.index(key)))
            out.append({**comp, "uncertainty": comp[why], "why": why,
                        "nearest_real_distance": round(d_same, 6) if np.isfinite(d_same) else None})
    return out


def label_kind(samples: list[Sample]) -> str:
    """What a reviewer checks: ``spans`` (text with entities), ``masks``, ``boxes`` or ``classes``."""
    if any(isinstance(s.data, str) for s in samples):
        return "spans" if any(s.annotations.get("spans") for s in samples) else "classes"
    objs = [o for s in samples for o in s.annotations.get("objects", [])]
    if any(o.get("mask") is not None for o in objs):
        return "masks"
    return "boxes" if objs else "classes"


# --- the run folder -----------------------------------------------------------------------------

def _features(run_cfg: Any, cfg_review: Any, real: list[Sample], syn: list[Sample], modality: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The feature space the scores use: ``review.features``, else the one the run's label-agreement
    check reads, else the run's first (through the run's feature cache)."""
    from synthgen.validators.cache import FeatureCache

    from .validate import _featurizers

    val = run_cfg.get("validation")
    spaces = _featurizers(val, modality)
    want = (cfg_review or {}).get("features")
    if want is None:
        uses = [str(v.get("features")) for name, v in (val.get("validators") or {}).items()
                if v is not None and "label" in str(name) and v.get("features")]
        want = next((u for u in uses if u in spaces), next(iter(spaces)))
    if want not in spaces:
        raise ConfigError(f"review.features: the run has no feature space '{want}' (have: {', '.join(spaces)})")
    cache = FeatureCache(val.get("cache_dir", None))
    return str(want), cache.transform(spaces[want], real, f"{want}/review-real"), cache.transform(spaces[want], syn, f"{want}/review-synthetic")


def _png_data_uri(img: np.ndarray) -> str:
    import cv2

    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 3:
        a = a[:, :, ::-1]  # RGB -> BGR for OpenCV
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", a)
    if not ok:
        raise DatasetError("review: cannot encode an image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def _write_json(path: Path, obj: Any) -> None:
    from .io.common import dumps, write_bytes_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, (json.dumps(json.loads(dumps(obj)), ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8"))


def build_review(cfg: Any, run_dir: Path) -> dict[str, Any]:
    """Score the run's synthetic samples and build the tasks and labeling config (no server needed)."""
    from .config import load_run_config
    from .io.labelstudio import label_config, region_tools, task
    from .pipeline import load_dataset, read_any

    r = cfg.get("review") or {}
    run_cfg = load_run_config(run_dir / ".hydra/config.yaml", cfg.get("allow_targets"))
    train, reference = load_dataset(run_cfg.get("dataset"), "dataset")
    real = list(train.samples) + (list(reference.samples) if reference is not None else [])
    syn = read_any(str(run_dir / "synthetic"), "auto", "run_dir").samples
    if not syn:
        raise DatasetError(f"{run_dir / 'synthetic'}: no synthetic samples to review")
    report = json.loads((run_dir / "report.json").read_text())
    dropped = {d["id"] for d in (report.get("filter") or {}).get("dropped", [])}
    space, X, Y = _features(run_cfg, r, real, syn, train.modality)
    scores = uncertainty(X, [s.label for s in real], Y, [s.label for s in syn], int(r.get("k", 5)),
                         {i for i, s in enumerate(syn) if s.id in dropped})
    # most uncertain first; among equals, the one doubtful on more counts; then by id (deterministic)
    order = sorted(range(len(syn)), key=lambda i: (-scores[i]["uncertainty"], -sum(scores[i][c] for c in COMPONENTS), syn[i].id))
    max_tasks = r.get("max_tasks")
    if max_tasks is not None:
        order = order[:int(max_tasks)]
    kind = label_kind(syn)
    images = str(r.get("images", "inline"))
    if images not in ("inline", "url"):
        raise ConfigError(f"review.images: must be inline or url, got {images!r}")
    if images == "url" and not r.get("image_url"):
        raise ConfigError("review.image_url: missing (review.images=url needs the URL the server reads synthetic/ under)")
    tasks, rows = [], []
    for i in order:
        s = syn[i]
        if images == "inline" and not isinstance(s.data, str):
            url = _png_data_uri(s.data)
        else:
            url = f"{str(r.get('image_url')).rstrip('/')}/{s.meta.get('file')}" if images == "url" else None
        t = task(s, (lambda _s, u=url: u), model_version=f"synthgen-{run_dir.name}")
        sc = scores[i]
        t["data"]["synthgen_uncertainty"] = sc["uncertainty"]
        t["data"]["synthgen_why"] = sc["why"]
        t["predictions"][0]["score"] = round(1.0 - sc["uncertainty"], 6)
        tasks.append(t)
        rows.append({"sample": s.id, "label": s.label, **sc})
    classes = list(train.classes)
    object_labels = sorted({str(o.get("category", s.label)) for s in syn for o in s.annotations.get("objects", [])}
                           | {str(sp["label"]) for s in syn for sp in s.annotations.get("spans", [])})
    modality = "text" if train.modality == "text" else "image"
    regions = region_tools(tasks) if kind in ("boxes", "masks") else ()
    xml = label_config(classes, object_labels if kind != "classes" else [], modality, regions, review=True)
    return {"tasks": tasks, "rows": rows, "label_config": xml, "kind": kind, "features": space,
            "n_synthetic": len(syn), "classes": classes}


def export_job(cfg: Any, out_dir: Path) -> dict[str, Any]:
    """``synthgen review export``: the project, its tasks, and ``<run>/review/export.json``."""
    from .io.common import write_bytes_atomic
    from .pipeline import finished_run

    run_dir = finished_run(cfg)
    r = cfg.get("review") or {}
    b = build_review(cfg, run_dir)
    folder = run_dir / REVIEW_DIR
    _write_json(folder / "tasks.json", b["tasks"])  # also importable by hand (Label Studio's Import button)
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / "label_config.xml", b["label_config"].encode("utf-8"))
    info: dict[str, Any] = {"schema": "synthgen/review-export", "schema_version": 1, "run": str(run_dir.resolve()),
                            "kind": b["kind"], "features": b["features"], "n_synthetic": b["n_synthetic"],
                            "tasks": b["rows"], "project": None, "url": None}
    url = r.get("url") or os.environ.get(URL_ENV)
    if url:
        ls = client(r, url)
        title = str(r.get("title") or f"synthgen review {run_dir.name}")[:50]
        desc = (f"Synthetic samples of {run_dir.resolve()} that most need a human ({len(b['tasks'])} of "
                f"{b['n_synthetic']}, most uncertain first). Choose accept or reject; change the class to "
                "relabel; move or redraw regions to correct them.")
        project = ls.create_project(title, b["label_config"], desc)
        pid = int(project["id"])
        if b["tasks"]:
            ls.import_tasks(pid, b["tasks"])
        ids = {str((t.get("data") or {}).get("synthgen_id")): int(t["id"]) for t in ls.tasks(pid)}
        missing = [row["sample"] for row in b["rows"] if row["sample"] not in ids]
        if missing:
            raise ReviewError(f"Label Studio project {pid}: {len(missing)} tasks did not arrive (first: sample {missing[0]})")
        for row in b["rows"]:
            row["task"] = ids[row["sample"]]
        info.update(project=pid, url=ls.url, title=title)
    _write_json(folder / EXPORT_FILE, info)
    where = f"Label Studio project {info['project']} at {info['url']}" if info["project"] else f"{folder / 'tasks.json'} (no review.url: import it by hand)"
    print(f"review: {len(b['tasks'])} of {b['n_synthetic']} synthetic samples ({b['kind']}), most uncertain first -> {where}", flush=True)
    return {"export": info, "n_tasks": len(b["tasks"])}


# --- reading decisions back ---------------------------------------------------------------------

def _regions(results: list[dict[str, Any]]) -> list[tuple]:
    """Object / span regions of a result list, comparable across export and annotation."""
    out = []
    for x in results:
        t, v = x.get("type"), x.get("value") or {}
        if t == "labels":
            out.append((t, int(v["start"]), int(v["end"]), str(v["labels"][0])))
        elif t == "rectanglelabels":
            out.append((t, *(round(float(v[key]), 1) for key in ("x", "y", "width", "height")), str(v["rectanglelabels"][0])))
        elif t == "polygonlabels":
            out.append((t, tuple((round(float(a), 1), round(float(b), 1)) for a, b in v["points"]), str(v["polygonlabels"][0])))
    return sorted(out, key=repr)


def _annotations(s: Sample, results: list[dict[str, Any]], where: str) -> dict[str, Any]:
    from .io.labelstudio import region_object

    if isinstance(s.data, str):
        from .io.jsonl import check_spans

        spans = [{"start": int(v["start"]), "end": int(v["end"]), "label": str(v["labels"][0])}
                 for v in (x["value"] for x in results if x.get("type") == "labels")]
        return {**s.annotations, "spans": check_spans(s.data, spans, where)}
    objs = []
    for x in results:
        o = region_object(x)
        if o is not None:
            objs.append(o)
    return {**s.annotations, "objects": objs}


def decide(task: dict[str, Any], s: Sample, classes: list[str], users: dict[int, str], where: str) -> dict[str, Any] | None:
    """One reviewed task -> the decision record (None when nobody has submitted an annotation)."""
    from .io.common import to_jsonable
    from .io.labelstudio import task as make_task

    anns = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    if not anns:
        return None
    a = max(anns, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), int(a.get("id") or 0)))
    res = a.get("result") or []
    choice = lambda name: next((x["value"]["choices"][0] for x in res if x.get("from_name") == name
                                and (x.get("value") or {}).get("choices")), None)
    verdict, new_label = choice("review"), choice("class")
    if verdict not in (None, "accept", "reject"):
        raise ReviewError(f"{where}: review choice {verdict!r} is neither accept nor reject")
    new_label = s.label if new_label is None else str(new_label)
    if new_label not in classes:
        raise ReviewError(f"{where}: relabeled to '{new_label}', which is not a class of the run ({', '.join(classes)})")
    generated = _regions(make_task(s, lambda _s: "")["predictions"][0]["result"])
    corrected = _regions(res) != generated
    if verdict == "reject":
        decision = "reject"
    elif new_label != s.label:
        decision = "relabel"
    elif corrected:
        decision = "correct"
    else:
        decision = "accept"
    who = a.get("completed_by")
    if isinstance(who, dict):
        reviewer = str(who.get("email") or who.get("username") or who.get("id"))
    else:
        reviewer = users.get(int(who), str(who)) if who is not None else "unknown"
    rec = {"decision": decision, "reviewer": reviewer, "time": a.get("updated_at") or a.get("created_at"),
           "task": task.get("id"), "annotation": a.get("id"),
           "before": {"label": s.label, "annotations": to_jsonable(s.annotations)},
           "after": None if decision == "reject" else {"label": new_label}}
    if decision != "reject":
        rec["corrected"] = bool(corrected)
        if corrected:
            rec["after"]["annotations"] = to_jsonable(_annotations(s, res, where))
    return rec


def import_job(cfg: Any, out_dir: Path) -> dict[str, Any]:
    """``synthgen review import``: reviewers' annotations -> ``<run>/review/decisions.json``.

    Reads the project named in ``<run>/review/export.json`` from the server, or a Label Studio JSON
    export file given as ``review.from_file``.  Unreviewed tasks stay ``pending``; a later import
    replaces the file with the project's current state.
    """
    from .pipeline import finished_run, read_any

    run_dir = finished_run(cfg)
    r = cfg.get("review") or {}
    exp_path = run_dir / REVIEW_DIR / EXPORT_FILE
    if not exp_path.exists():
        raise DatasetError(f"{exp_path}: not found (run `synthgen review export run_dir={run_dir}` first)")
    try:
        exp = json.loads(exp_path.read_text())
    except ValueError as e:
        raise DatasetError(f"{exp_path}: not JSON ({e})") from None
    users: dict[int, str] = {}
    if r.get("from_file"):
        f = Path(str(r["from_file"])).expanduser()
        try:
            tasks = json.loads(f.read_text())
        except FileNotFoundError:
            raise DatasetError(f"{f}: review.from_file does not exist") from None
        except ValueError as e:
            raise DatasetError(f"{f}: review.from_file is not JSON ({e})") from None
        if not isinstance(tasks, list):
            raise DatasetError(f"{f}: review.from_file must be a Label Studio JSON export (a list of tasks)")
        source = {"file": str(f.resolve())}
    else:
        if exp.get("project") is None:
            raise ConfigError(f"review.from_file: {exp_path} names no Label Studio project (the export had no review.url); "
                              "give the reviewed JSON export file")
        ls = client(r, r.get("url") or exp.get("url"))
        tasks = ls.tasks(int(exp["project"]))
        users = ls.users()
        source = {"url": ls.url, "project": int(exp["project"])}
    syn = {s.id: s for s in read_any(str(run_dir / "synthetic"), "auto", "run_dir").samples}
    from .config import load_run_config
    from .pipeline import load_dataset

    run_cfg = load_run_config(run_dir / ".hydra/config.yaml", cfg.get("allow_targets"))
    classes = list(load_dataset(run_cfg.get("dataset"), "dataset")[0].classes)
    decisions, pending = {}, []
    for n, t in enumerate(tasks):
        sid = str((t.get("data") or {}).get("synthgen_id"))
        where = f"Label Studio task {t.get('id', n)} (sample {sid})"
        if sid not in syn:
            raise ReviewError(f"{where}: no such synthetic sample in {run_dir / 'synthetic'}")
        try:
            rec = decide(t, syn[sid], classes, users, where)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ReviewError(f"{where}: malformed annotation ({type(e).__name__}: {e})") from None
        if rec is None:
            pending.append(sid)
        else:
            decisions[sid] = rec
    counts = {k: sum(1 for d in decisions.values() if d["decision"] == k) for k in ("accept", "reject", "relabel", "correct")}
    out = {"schema": DECISIONS_SCHEMA, "schema_version": 1, "source": source, "counts": counts,
           "pending": sorted(pending), "decisions": decisions}
    _write_json(run_dir / REVIEW_DIR / DECISIONS_FILE, out)
    _audit(run_dir, cfg, out)
    print(f"review: {len(decisions)} decisions ({', '.join(f'{k} {v}' for k, v in counts.items())}), "
          f"{len(pending)} pending -> {run_dir / REVIEW_DIR / DECISIONS_FILE}", flush=True)
    return out


def _audit(run_dir: Path, cfg: Any, out: dict[str, Any]) -> None:
    """The run folder's audit log gets one entry per import: who imported, from where, what was decided."""
    import hashlib
    import sys

    from . import audit

    path = run_dir / REVIEW_DIR / DECISIONS_FILE
    event = {**audit.context(cfg, "review"),
             "inputs": {"review": out["source"]},
             "written": {"decisions": str(path.resolve()), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
             "decisions": {"review": {sid: {k: d[k] for k in ("decision", "reviewer", "time")}
                                      for sid, d in out["decisions"].items()}, "counts": out["counts"]}}
    try:
        audit.record(run_dir, event)
    except OSError as e:  # the decisions are written; a missing audit entry must not undo them
        print(f"synthgen: warning: audit entry for {path} not written ({e})", file=sys.stderr, flush=True)


def review_job(cfg: Any, out_dir: Path) -> dict[str, Any]:
    action = cfg.get("action")
    if action == "export":
        return export_job(cfg, out_dir)
    if action == "import":
        return import_job(cfg, out_dir)
    raise ConfigError(f"action: must be export or import, got {action!r} (synthgen review export run_dir=...)")


# --- the merge's side ---------------------------------------------------------------------------

def read_decisions(run_dir: str | Path) -> dict[str, Any] | None:
    """``<run>/review/decisions.json`` (None when the run was not reviewed)."""
    p = Path(run_dir) / REVIEW_DIR / DECISIONS_FILE
    if not p.exists():
        return None
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise DatasetError(f"{p}: not JSON ({e})") from None
    if not isinstance(d, dict) or d.get("schema") != DECISIONS_SCHEMA or not isinstance(d.get("decisions"), dict):
        raise DatasetError(f"{p}: not a synthgen review decisions file (schema {DECISIONS_SCHEMA})")
    return d


def apply_decisions(samples: list[Sample], decisions: dict[str, Any] | None, where: str = "decisions") -> tuple[list[Sample], dict[str, int]]:
    """The samples as the reviewers left them: rejected ones removed, relabeled ones under their new
    class, corrected annotations in place of the generated ones; each reviewed sample carries its
    decision in ``meta['extra']['review']`` (written to its manifest line)."""
    from .io.common import annotations_from_json

    if not decisions:
        return list(samples), {}
    dec = decisions["decisions"]
    out, counts = [], {"accept": 0, "reject": 0, "relabel": 0, "correct": 0}
    for s in samples:
        d = dec.get(s.id)
        if d is None:
            out.append(s)
            continue
        kind = d.get("decision")
        if kind not in counts:
            raise DatasetError(f"{where}: sample {s.id}: decision {kind!r} is not accept, reject, relabel or correct")
        counts[kind] += 1
        if kind == "reject":
            continue
        after = d.get("after") or {}
        ann = annotations_from_json(after["annotations"], f"{where}: sample {s.id}") if "annotations" in after else s.annotations
        meta = {**s.meta, "extra": {**(s.meta.get("extra") or {}), "review": d}}
        out.append(Sample(s.id, s.data, str(after.get("label", s.label)), ann, s.provenance, s.modality, meta))
    return out, counts
