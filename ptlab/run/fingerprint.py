"""What a run's result depends on, as two hashes: its config (less the seed) and the data it read.

A run dir is named by its command-line overrides only, so an edited task YAML (a verbalizer, the
template) or another data directory lands in the same dir. The fingerprints make such a relaunch
a different run: ptlab says what changed instead of handing back the old result, and
ptlab-report never averages runs of different fingerprints in one cell without saying so.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

from ptlab.config.schema import RunConfig
from ptlab.config.result_keys import IGNORED


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def flatten(node: Any, prefix: str = "") -> Dict[str, Any]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: Dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_view(resolved: Dict[str, Any]) -> Dict[str, Any]:
    """The resolved config's keys that decide the result, flattened. Of the task's template
    library only the selected template counts: adding or editing another one changes no run."""
    selected = (resolved.get("task") or {}).get("template")
    other = f"task.templates.{selected}."
    return {
        k: v
        for k, v in flatten(resolved).items()
        if not any(k == ignored or k.startswith(ignored + ".") for ignored in IGNORED)
        and not (k.startswith("task.templates.") and not k.startswith(other))
    }


def config_changes(old: Dict[str, Any], new: Dict[str, Any], limit: int = 3) -> str:
    """`task.labels.negative: ' bad' -> ' negative'` for the first few keys that differ. A key the
    earlier run's config did not have at all (added by a later ptlab) is not a difference."""
    old_view, new_view = config_view(old), config_view(new)
    keys = sorted(k for k in old_view if old_view[k] != new_view.get(k, "<unset>"))
    shown = [f"{k}: {old_view[k]!r} -> {new_view.get(k, '<unset>')!r}" for k in keys[:limit]]
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return "; ".join(shown) + more


def data_files(run: RunConfig) -> Dict[str, Any]:
    """What the task reads, as the data module will (local files when a data dir is set, else the
    hub): each local file's size and sha256 (or "missing"), or the hub dataset's identity."""
    from ptlab.data.formats import split_paths
    from ptlab.data.sources import declared_splits, resolve_data_dir

    task, source = run.task, run.data.source
    data_dir = resolve_data_dir(run.paths.data_dir)
    found: Dict[str, Any] = {}
    for split in declared_splits(task):
        local = task.local is not None and split in task.local.files
        if source == "local" or (source == "auto" and local and data_dir is not None):
            if not local or data_dir is None:
                found[split] = "not declared locally" if not local else "no data dir"
                continue
            folder = data_dir / task.local.dir
            paths = split_paths(task.local, folder, split)  # a parallel pair: 2
            parts = [file_identity(path) for path in paths]
            found[split] = parts[0] if len(parts) == 1 else {"parts": parts}
            found[split]["file"] = " + ".join(f"{task.local.dir}/{path.name}" for path in paths)
        elif task.hub is not None:
            hub = task.hub
            where = f"{hub.path}/{hub.name or ''}@{hub.revision or 'main'}"
            found[split] = {"hub": f"{where}:{hub.splits.get(split, split)}"}
    return found


def file_identity(path: Path) -> Dict[str, Any]:
    """A file's size and sha256, or `{"missing": True}` (data files here, cache entries' files too)."""
    if not path.is_file():
        return {"missing": True}
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"bytes": path.stat().st_size, "sha256": digest.hexdigest()}


def fingerprint(run: RunConfig, resolved: Dict[str, Any]) -> Dict[str, Any]:
    files = data_files(run)
    return {"config": _digest(config_view(resolved)), "data": _digest(files), "data_files": files}


def data_changes(old: Dict[str, Any], new: Dict[str, Any]) -> str:
    """Which split's data differs, e.g. `validation (sst2/dev.tsv) changed`."""
    changed: List[str] = []
    for split in sorted(old.keys() | new.keys()):
        before, after = old.get(split), new.get(split)
        if before != after:
            name = (after or before or {}).get("file") or (after or before or {}).get("hub", "")
            state = "missing now" if (after or {}).get("missing") else "changed"
            changed.append(f"{split} ({name}) {state}")
    return "; ".join(changed) or "the data identity changed"


def mismatch(
    previous: Optional[Dict[str, Any]],
    current: Dict[str, Any],
    old_config: Optional[Dict[str, Any]],
    new_config: Dict[str, Any],
) -> Optional[str]:
    """None when the earlier record's fingerprint matches; else what differs, in words.

    A record without a fingerprint (written before ptlab recorded one) matches: its run cannot be
    checked, and refusing every old run would be worse.
    """
    old = (previous or {}).get("fingerprint")
    if not old:
        return None
    parts = []
    if old.get("config") != current["config"]:
        detail = config_changes(old_config, new_config) if old_config is not None else None
        if detail is None:
            parts.append("a different config")
        elif detail:  # else only keys new since the earlier run: the same run
            parts.append(f"a different config ({detail})")
    if old.get("data") != current["data"]:
        parts.append(f"different data ({data_changes(old.get('data_files', {}), current['data_files'])})")
    return " and ".join(parts) or None
