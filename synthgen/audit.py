"""The audit trail: an append-only, hash-chained log of everything that wrote a run or training set.

Every command that writes (``run``, ``collect``, ``merge``; review import and loop through
:func:`record`) appends one JSON line to ``audit.jsonl`` in the folder it wrote: who (user, host),
when (UTC), the command and its overrides, the config digest, digests of its inputs, what it wrote
and the gate's (or a reviewer's) decision per class.  Each entry holds ``seq`` (0, 1, ...), ``prev``
(the previous entry's ``hash``; 64 zeros for the first) and ``hash``: the sha256 of the entry's
canonical JSON without ``hash``.  ``.audit.head`` (replaced atomically after each append) names the
last entry, so whole lines cut from the end are detected as well as edited, deleted or reordered ones.

The log is deliberately outside everything that must be byte-identical for a config and seed (it
holds times and users): ``synthetic/``, ``report.*`` and the versions' manifests never contain it.

Appends take an exclusive ``flock`` on the log itself, so they are safe alongside the merge lock and
from any process.  A write cut short by a crash leaves a torn last line: :func:`verify` names it;
the next :func:`record` does not build on it silently: it ends the torn line, warns, and appends an
entry that names the torn line and its digest (``verify`` then reports the tear as repaired).

``synthgen audit target=<sample id | version | run folder> into=<training set>`` answers "where did
this come from, who admitted it and why"; ``synthgen audit verify=true path=<folder or log>`` checks
the chain (exit 2 naming the first bad line).
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import SynthgenError
from .io.common import dumps, sha256_file, write_bytes_atomic

LOG = "audit.jsonl"
HEAD = ".audit.head"
GENESIS = "0" * 64
SCHEMA = "synthgen/audit-1"


class AuditError(SynthgenError):
    """The audit log is damaged (edited, reordered, truncated) or an audit question has no answer."""


# --- writing ------------------------------------------------------------------------------------

def _entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(dumps({k: v for k, v in entry.items() if k != "hash"}).encode("utf-8")).hexdigest()


def _who() -> dict[str, str]:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): the uid still says who
        user = f"uid:{os.getuid()}"
    return {"user": user, "host": socket.gethostname()}


def _log_path(folder: str | Path) -> Path:
    p = Path(folder).expanduser()
    return p if p.suffix == ".jsonl" else p / LOG


def record(folder: str | Path, event: dict[str, Any]) -> dict[str, Any]:
    """Append ``event`` to ``<folder>/audit.jsonl`` as a chained entry and return the entry.

    ``who`` and ``when`` are filled in unless the event gives them; everything else is the caller's
    (``command``, ``overrides``, ``config_digest``, ``inputs``, ``written``, ``decisions``, ...).
    """
    path = _log_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            data = f.read()
            seq, prev, torn = 0, GENESIS, None
            lines = data.split(b"\n")
            complete, tail = lines[:-1], lines[-1]
            if tail:  # no end of line: a write was cut short (or the file was cut)
                torn = {"line": len(complete) + 1, "bytes": len(tail), "sha256": hashlib.sha256(tail).hexdigest()}
                print(f"synthgen: warning: {path}:{torn['line']}: torn last line (an interrupted write); "
                      "it is kept and recorded in the next entry", file=sys.stderr, flush=True)
                f.write(b"\n")
                complete.append(tail)
            last = _last_entry(complete)
            if last is not None:
                seq, prev = int(last.get("seq", -1)) + 1, str(last.get("hash"))
            entry = {"schema": SCHEMA, "seq": seq, "prev": prev, "when": _now(), "who": _who()}
            entry.update({k: v for k, v in event.items() if k not in ("seq", "prev", "hash", "schema")})
            if torn:
                entry["torn_line"] = torn
            entry = json.loads(dumps(entry))  # plain JSON types, exactly as they will be read back
            entry["hash"] = _entry_hash(entry)
            f.write((dumps(entry) + "\n").encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
            write_bytes_atomic(path.parent / HEAD, (dumps({"log": path.name, "seq": seq, "hash": entry["hash"]}) + "\n").encode())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
    return entry


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _last_entry(lines: list[bytes]) -> dict[str, Any] | None:
    """The last parsable entry (a torn line is skipped: the next entry chains to the last good one)."""
    for raw in reversed(lines):
        if not raw.strip():
            continue
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        if isinstance(e, dict) and "hash" in e:
            return e
    return None


def context(cfg: Any = None, command: str | None = None, run: str | Path | None = None) -> dict[str, Any]:
    """What a command entry starts with: the command, its overrides (Hydra's task overrides when a
    Hydra job is running), the digest of its resolved config and the run folder it came from."""
    out: dict[str, Any] = {"command": command, "overrides": []}
    if run is not None:
        out["run"] = str(Path(run).resolve())
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            hc = HydraConfig.get()
            out["overrides"] = list(hc.overrides.task)
            out["command"] = command or hc.job.name
    except Exception:  # noqa: BLE001 - outside a Hydra job: no overrides to record
        pass
    if cfg is not None:
        from .config import digest

        try:
            out["config_digest"] = digest(cfg)
        except Exception:  # noqa: BLE001 - an interpolation only a run resolves: digest the raw config
            from omegaconf import OmegaConf

            out["config_digest"] = hashlib.sha256(OmegaConf.to_yaml(cfg).encode()).hexdigest()
    return out


def ids_digest(ids: Iterable[str]) -> str:
    """sha256 of the sorted sample ids (one per line): what a set of samples was, in 64 characters."""
    return hashlib.sha256("\n".join(sorted(map(str, ids))).encode("utf-8")).hexdigest()


def dataset_digest(ds: Any) -> dict[str, Any]:
    """A real dataset's identity: its source, size and the digest of its (id, label) pairs."""
    pairs = sorted(f"{s.id}\t{s.label}" for s in ds.samples)
    return {"source": str(ds.source), "n_samples": len(pairs),
            "digest": hashlib.sha256("\n".join(pairs).encode("utf-8")).hexdigest()}


def decisions(report: dict[str, Any] | None) -> dict[str, Any]:
    """The gate's decision per class, from a report: verdict, admitted or not, and why."""
    out = {}
    for label, c in ((report or {}).get("classes") or {}).items():
        out[str(label)] = {k: c[k] for k in ("verdict", "admitted", "failed_by", "warned_by", "explanation") if k in c}
        out[str(label)].setdefault("admitted", c.get("verdict") == "pass")
    return out


def record_run(folder: str | Path, cfg: Any, command: str, summary: dict[str, Any], run_info: dict[str, Any] | None = None,
               train: Any = None, synthetic: Iterable[Any] | None = None) -> dict[str, Any] | None:
    """The entry a run folder gets from ``run`` or ``collect``: inputs, what it generated, the report's
    decisions and where it was merged.  Never fails the job: a log that cannot be written warns."""
    counts: dict[str, int] = {}
    ids = []
    for s in synthetic or ():
        counts[s.label] = counts.get(s.label, 0) + 1
        ids.append(s.id)
    report = summary.get("report")
    folder = Path(folder)
    inputs: dict[str, Any] = {}
    if train is not None:
        inputs["dataset"] = dataset_digest(train)
    for k in ("generator", "generator_version", "generator_config_digest", "seed", "shards"):
        if run_info and run_info.get(k) is not None:
            inputs[k] = run_info[k]
    written: dict[str, Any] = {"folder": str(folder.resolve()), "synthetic": counts, "n_synthetic": len(ids),
                               "sample_ids_digest": ids_digest(ids)}
    if report is not None:  # as merge records it in each admitted sample's ``admitted_by``
        written["report_sha256"] = hashlib.sha256(dumps(report).encode()).hexdigest()
    merged = summary.get("merge")
    if merged:
        written["merged_into"] = {"into": str(Path(merged["into"]).resolve()), "version": merged.get("version"),
                                  "new_version": merged.get("new_version"), "added": merged.get("added")}
    event = {**context(cfg, command), "inputs": inputs, "written": written, "decisions": decisions(report)}
    return _safe_record(folder, event)


def record_merge_into_run(run_dir: str | Path, cfg: Any, result: dict[str, Any], report: dict[str, Any]) -> dict[str, Any] | None:
    """The entry ``synthgen merge run_dir=...`` appends to the run folder it merged."""
    event = {**context(cfg, "merge"),
             "written": {"merged_into": {"into": str(Path(result["into"]).resolve()), "version": result.get("version"),
                                         "new_version": result.get("new_version"), "added": result.get("added")}},
             "decisions": decisions(report)}
    return _safe_record(run_dir, event)


def _safe_record(folder: str | Path, event: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return record(folder, event)
    except OSError as e:  # the run's outputs are complete; a missing audit entry must not undo them
        print(f"synthgen: warning: {_log_path(folder)}: audit entry not written ({e})", file=sys.stderr, flush=True)
        return None


def record_version(into: Path, name: str, meta: dict[str, Any], report: dict[str, Any] | None, added: list[Any],
                   real: Any, event: dict[str, Any] | None) -> dict[str, Any]:
    """The entry a training set gets for a new version (called by merge under its lock, after the
    version is complete on disk and before ``CURRENT`` names it)."""
    vdir = into / "versions" / name
    prev = meta.get("previous")
    inputs: dict[str, Any] = {"previous": prev, "report": meta.get("report"), "report_sha256": meta.get("report_sha256")}
    if prev and (into / "versions" / prev / "manifest.jsonl").exists():
        inputs["previous_manifest_sha256"] = sha256_file(into / "versions" / prev / "manifest.jsonl")
    elif real is not None:
        inputs["dataset"] = dataset_digest(real)
    written = {"version": name, "n_samples": meta.get("n_samples"), "added": meta.get("added"),
               "added_ids_digest": ids_digest(s.id for s in added),
               "manifest_sha256": sha256_file(vdir / "manifest.jsonl") if (vdir / "manifest.jsonl").exists() else None}
    dec = decisions(report)
    for label, why in (meta.get("forced") or {}).items():
        dec.setdefault(str(label), {})["forced"] = {"reason": why}
    for label, verdict in (meta.get("left_out") or {}).items():
        dec.setdefault(str(label), {}).update(admitted=False, left_out=verdict)
    base = dict(event) if event else context(None, "merge")
    return record(into, {**base, "event": "version", "inputs": inputs, "written": written, "decisions": dec})


def record_recovered(into: Path, name: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    """A version published by the recovery of a killed merge: recorded once (unless the killed merge
    got as far as its own entry)."""
    for e in _entries_quiet(_log_path(into)):
        if (e.get("written") or {}).get("version") == name:
            return None
    event = {"command": "merge", "event": "recovered",
             "note": "published by the recovery of a merge killed after writing it; its command is not known",
             "inputs": {"previous": meta.get("previous"), "report": meta.get("report"), "report_sha256": meta.get("report_sha256")},
             "written": {"version": name, "n_samples": meta.get("n_samples"), "added": meta.get("added")}}
    return record(into, event)


# --- reading and verifying ----------------------------------------------------------------------

def _entries_quiet(path: Path) -> list[dict[str, Any]]:
    """Every parsable entry (for lookups; :func:`verify` is the check)."""
    if not path.exists():
        return []
    out = []
    for raw in path.read_bytes().split(b"\n"):
        try:
            e = json.loads(raw)
        except ValueError:
            continue
        if isinstance(e, dict):
            out.append(e)
    return out


def verify(path: str | Path) -> dict[str, Any]:
    """Check the chain of a log (a folder holding ``audit.jsonl`` or the file itself).

    Returns ``{"log", "entries", "head", "repaired"}``; raises :class:`AuditError` naming the first
    bad line: not JSON or torn, a hash that does not match the entry (edited), a ``seq``/``prev`` that
    does not follow the line before (a line deleted, inserted or moved), or fewer lines than
    ``.audit.head`` records (lines cut from the end).
    """
    log = _log_path(path)
    if not log.exists():
        raise AuditError(f"{log}: no audit log here")
    data = log.read_bytes()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    if tail:
        raise AuditError(f"{log}:{len(complete) + 1}: torn line (no end of line): the file was truncated or a write was interrupted")
    expect_seq, prev, repaired, pending_torn = 0, GENESIS, [], None
    last_hash = None
    for n, raw in enumerate(complete, 1):
        try:
            e = json.loads(raw)
            if not isinstance(e, dict):
                raise ValueError
        except ValueError:
            pending_torn = (n, raw)  # acceptable only when the next entry records this very tear
            continue
        if pending_torn is not None:
            tn, traw = pending_torn
            t = e.get("torn_line") or {}
            if t.get("line") != tn or t.get("sha256") != hashlib.sha256(traw).hexdigest():
                raise AuditError(f"{log}:{tn}: not a valid entry (edited, or a torn write no later entry records)")
            repaired.append(tn)
            pending_torn = None
        if e.get("hash") != _entry_hash(e):
            raise AuditError(f"{log}:{n}: hash does not match the entry: the line was edited")
        if e.get("seq") != expect_seq:
            later = any(f'"seq":{expect_seq},'.encode() in raw_after for raw_after in complete[n:])
            why = (f"lines were reordered (#{expect_seq} comes later)" if later else
                   "a line was deleted" if isinstance(e.get("seq"), int) and e["seq"] > expect_seq else "a line was copied or inserted")
            raise AuditError(f"{log}:{n}: entry #{e.get('seq')} where #{expect_seq} should be: {why}")
        if e.get("prev") != prev:
            raise AuditError(f"{log}:{n}: does not chain to the line before it (lines deleted or reordered)")
        prev, last_hash, expect_seq = e["hash"], e["hash"], expect_seq + 1
    if pending_torn is not None:
        raise AuditError(f"{log}:{pending_torn[0]}: not a valid entry (edited or torn)")
    head = log.parent / HEAD
    head_rec = None
    if head.exists() and log.name == LOG:
        try:
            head_rec = json.loads(head.read_text())
            hseq, hhash = int(head_rec["seq"]), str(head_rec["hash"])
        except (ValueError, KeyError, TypeError):
            raise AuditError(f"{head}: unreadable (edited)") from None
        if hseq >= expect_seq:
            raise AuditError(f"{log}:{expect_seq + 1}: missing: the log ends after {expect_seq} entries but {HEAD} "
                             f"records {hseq + 1} (lines were cut from the end)")
        entries = _entries_quiet(log)
        at = next((x for x in entries if x.get("seq") == hseq), None)
        if at is None or at.get("hash") != hhash:
            raise AuditError(f"{log}:{hseq + 1}: does not match {HEAD} (the log was rewritten)")
        if expect_seq - 1 - hseq > 1:  # a crash may leave the head one entry behind, never more
            raise AuditError(f"{log}:{hseq + 2}: follows the last entry {HEAD} records (lines were appended outside synthgen)")
    return {"log": str(log), "entries": expect_seq, "head": last_hash, "repaired": repaired}


# --- answering "where did this come from" -------------------------------------------------------

def _versions(into: Path) -> list[Path]:
    vdir = into / "versions"
    return sorted((p for p in vdir.iterdir() if p.is_dir() and p.name[1:].isdigit()), key=lambda p: p.name) if vdir.is_dir() else []


def _manifest_record(version: Path, sample_id: str) -> dict[str, Any] | None:
    m = version / "manifest.jsonl"
    if not m.exists():
        return None
    needle = json.dumps(sample_id, ensure_ascii=False)
    with open(m, encoding="utf-8") as f:
        for line in f:
            if needle in line:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("id") == sample_id:
                    return r
    return None


def trace_sample(into: str | Path, sample_id: str) -> dict[str, Any]:
    """Where a sample of a training set came from: its manifest record (current version), the
    version that first held it, its run, config digest, parents, generator, the gate decision and
    the audit entries (training set and run folder) about it."""
    from .merge import current_version

    into = Path(into).expanduser()
    cur = current_version(into)
    if cur is None:
        raise AuditError(f"into: {into} is not a synthgen training set (no CURRENT)")
    rec = _manifest_record(cur, sample_id)
    if rec is None:
        raise AuditError(f"target: sample {sample_id!r} is not in {cur / 'manifest.jsonl'}")
    first = next((v.name for v in _versions(into) if v.name <= cur.name and _manifest_record(v, sample_id) is not None), cur.name)
    prov = rec.get("provenance") or {}
    adm = rec.get("admitted_by") or {}
    review = rec.get("review") if isinstance(rec.get("review"), dict) else None
    # the class the gate judged it as (a reviewer may have relabeled it since: synthgen review)
    gated = str(((review or {}).get("before") or {}).get("label", rec.get("label")))
    out: dict[str, Any] = {"id": sample_id, "label": rec.get("label"), "origin": rec.get("origin"), "version": cur.name,
                           "added_in": first, "generator": prov.get("generator"), "generator_version": prov.get("generator_version"),
                           "config_digest": prov.get("config_digest"), "seed": prov.get("seed"), "index": prov.get("index"),
                           "parents": prov.get("parents") or [], "admitted_by": adm or None, "run": None, "decision": None,
                           "review": review, "entries": []}
    for e in _entries_quiet(into / LOG):
        if (e.get("written") or {}).get("version") == first:
            out["entries"].append({"log": str(into / LOG), **_brief(e)})
            dec = (e.get("decisions") or {}).get(gated)
            if dec and out["decision"] is None:
                out["decision"] = dec
    if adm.get("report"):
        report = (into / adm["report"]).resolve()
        run = report.parent
        out["run"] = str(run)
        if report.exists():
            try:
                c = (json.loads(report.read_text()).get("classes") or {}).get(gated) or {}
                out["decision"] = {k: c[k] for k in ("verdict", "admitted", "failed_by", "warned_by", "explanation") if k in c}
            except ValueError:
                pass
        for e in _entries_quiet(run / LOG):
            if (e.get("written") or {}).get("report_sha256") in (None, adm.get("report_sha256")) or e.get("command") == "merge":
                out["entries"].append({"log": str(run / LOG), **_brief(e)})
    if out["decision"] is None and adm:
        out["decision"] = {k: adm[k] for k in ("verdict", "forced", "reason") if k in adm}
    return out


def _brief(e: dict[str, Any]) -> dict[str, Any]:
    w = e.get("written") or {}
    return {"seq": e.get("seq"), "when": e.get("when"), "who": e.get("who"), "command": e.get("command"),
            "event": e.get("event"), "overrides": e.get("overrides"), "config_digest": e.get("config_digest"),
            "version": w.get("version") or (w.get("merged_into") or {}).get("version"), "hash": e.get("hash")}


def trace_version(into: str | Path, name: str) -> dict[str, Any]:
    into = Path(into).expanduser()
    vdir = into / "versions" / name
    if not vdir.is_dir():
        raise AuditError(f"target: version {name!r} does not exist in {into / 'versions'}")
    meta = json.loads((vdir / "MERGE.json").read_text()) if (vdir / "MERGE.json").exists() else {}
    entries = [{"log": str(into / LOG), **_brief(e), "decisions": e.get("decisions")}
               for e in _entries_quiet(into / LOG) if (e.get("written") or {}).get("version") == name]
    return {"version": name, "merge": meta, "entries": entries}


def trace_run(run: str | Path) -> dict[str, Any]:
    run = Path(run).expanduser()
    entries = [{"log": str(run / LOG), **_brief(e), "decisions": e.get("decisions"), "written": e.get("written")}
               for e in _entries_quiet(run / LOG)]
    if not entries and not (run / "report.json").exists():
        raise AuditError(f"target: {run} holds neither {LOG} nor report.json (not a synthgen run folder)")
    return {"run": str(run), "entries": entries}


# --- the command --------------------------------------------------------------------------------

def _print_trace(t: dict[str, Any]) -> None:
    def p(s: str = "") -> None:
        print(s, flush=True)

    if "id" in t:
        p(f"sample {t['id']} (class {t['label']}, {t['origin']}) in {t['version']}, added in {t['added_in']}")
        if t["origin"] == "synthetic":
            p(f"  generator:     {t['generator']} {t['generator_version'] or ''}".rstrip())
            p(f"  config digest: {t['config_digest']}")
            p(f"  seed, index:   {t['seed']}, {t['index']}")
            p(f"  parents:       {', '.join(map(str, t['parents'])) or '(none)'}")
            p(f"  run:           {t['run'] or '(unknown)'}")
        d = t.get("decision") or {}
        if d:
            p(f"  decision:      {d.get('verdict', '?')}, {'admitted' if d.get('admitted', True) else 'not admitted'}"
              + (f" (forced: {d['reason']})" if d.get("forced") and d.get("reason") else ""))
            if d.get("explanation"):
                p(f"  why:           {d['explanation']}")
        if t.get("review"):
            p(f"  review:        {json.dumps(t['review'], sort_keys=True, ensure_ascii=False)}")
    elif "version" in t and "merge" in t:
        m = t["merge"]
        p(f"version {t['version']}: previous {m.get('previous')}, {m.get('n_samples')} samples, added {m.get('added')}, "
          f"left out {m.get('left_out') or {}}, report {m.get('report')}")
    else:
        p(f"run {t['run']}")
    for e in t.get("entries", []):
        who = e.get("who") or {}
        p(f"  audit #{e['seq']} {e.get('when')} {who.get('user')}@{who.get('host')}: {e.get('command')}"
          + (f" ({e['event']})" if e.get("event") else "") + (f" -> {e['version']}" if e.get("version") else "")
          + (f" overrides {' '.join(e['overrides'])}" if e.get("overrides") else "") + f"  [{e.get('log')}]")
        for label, d in (e.get("decisions") or {}).items():
            if "id" not in t:
                p(f"      class {label}: {d.get('verdict', '-')}, {'admitted' if d.get('admitted') else 'not admitted'}")


def audit_job(cfg, out_dir: Path) -> dict[str, Any]:
    """``synthgen audit``: trace a sample, version or run folder, or verify a log's chain."""
    from .errors import ConfigError

    if cfg.get("verify"):
        target = cfg.get("path") or cfg.get("into") or cfg.get("target")
        if not target:
            raise ConfigError("path: missing (the folder or audit.jsonl to verify: audit verify=true path=<folder>)")
        res = verify(str(target))
        extra = f"; torn writes at lines {res['repaired']} were recorded by the entries after them" if res["repaired"] else ""
        print(f"{res['log']}: {res['entries']} {'entry' if res['entries'] == 1 else 'entries'}, chain intact{extra}", flush=True)
        out = {"verify": res}
    else:
        target = cfg.get("target")
        if target is None or str(target) == "":
            raise ConfigError("target: missing (a sample id, a version such as v0002, or a run folder)")
        target = str(target)
        into = cfg.get("into")
        t = Path(target).expanduser()
        if t.is_dir() and ((t / LOG).exists() or (t / "report.json").exists()):
            out = trace_run(t)
        else:
            if not into:
                raise ConfigError(f"into: missing (the training set that holds {target!r})")
            name = target
            if name.startswith("v") and name[1:].isdigit():
                out = trace_version(str(into), name)
            else:
                out = trace_sample(str(into), target)
        _print_trace(out)
    (out_dir / "audit.json").write_text(json.dumps(out, indent=2, sort_keys=True, default=str) + "\n")
    return {"audit": out}
