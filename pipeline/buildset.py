"""The outputs of one build as one unit: staged together, stamped with one build id, swapped in together.

A build writes every file and directory it makes into a fresh staging directory `outputs/.build-<id>/`. When
all of them are complete, `staged` stamps the set: a manifest (`outputs/build.json`, `build-dpo.json` for the
preference set) naming the build id and each entry's size and sha256. The manifest goes in first, then each
entry is renamed into place. So at every instant the manifest and the files either match (the old set before
the swap, the new one after it) or do not (a swap cut short), and `verify`, which `status` and `upload` call,
refuses a set that does not match with a located error. A build that fails or is killed before the swap
leaves the old set as it was; its staging directory is removed then or, after a kill, by the next build.

Whatever a build writes into the staging directory joins the unit; this module does not know the file names
(`pipeline.paths.BuildSet` names them and the manifest).
A set with no manifest (built before manifests existed, or written by hand) is not checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, Location
from pipeline.writes import atomic_write

STAGING = ".build-"
CHUNK = 1 << 20


def _stamp(path: Path) -> dict[str, Any]:
    """Size and sha256 of a file; of a directory, the size of its files and a hash over their names and hashes."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        stamps = [(p.relative_to(path).as_posix(), _stamp(p)) for p in files]
        listing = "".join(f"{name}\0{s['sha256']}\n" for name, s in stamps)
        return {"bytes": sum(s["bytes"] for _, s in stamps), "sha256": hashlib.sha256(listing.encode()).hexdigest()}
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def clean_leftovers(outputs: Path) -> list[Path]:
    """Remove what killed runs left in outputs/: staging directories and atomic-write temporaries. Called with
    the project lock held, so nothing that is still running can own them."""
    left = [p for p in outputs.glob(f"{STAGING}*") if p.is_dir()] + [p for p in outputs.glob(".*.tmp") if p.is_file()]
    for path in left:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return left


@contextmanager
def staged(outputs: Path, manifest: str) -> Iterator[Path]:
    """Yield a staging directory to write a build's outputs into; on a clean exit, stamp them and swap them in
    under `outputs/`; on an error, remove them and leave the old set as it was."""
    clean_leftovers(outputs)
    build_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    staging = outputs / f"{STAGING}{build_id}"
    staging.mkdir(parents=True)
    try:
        yield staging
        entries = sorted(p.name for p in staging.iterdir())
        stamp = {"build_id": build_id, "files": {name: _stamp(staging / name) for name in entries}}
        with atomic_write(outputs / manifest) as handle:
            json.dump(stamp, handle, indent=1)
        for name in entries:
            target = outputs / name
            if target.is_dir():  # a directory cannot be renamed over a full one: move the old one aside first
                target.rename(staging / f".old-{name}")
            os.replace(staging / name, target)
        _sync(outputs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sync(directory: Path) -> None:
    """Make the renames durable before the build reports success."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(outputs: Path, manifest: str, shown: str) -> str | None:
    """Check that the files under `outputs/` are the ones `manifest` stamps; returns the build id (None with no
    manifest). Raises InputError naming the first file that is missing or differs. `shown` is outputs/ as the
    user should see it."""
    path = outputs / manifest
    if not path.exists():
        return None
    where = Location(f"{shown}/{manifest}")
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
        build_id, files = str(stamp["build_id"]), dict(stamp["files"])
        if not all(isinstance(v, dict) and Path(k).name == k and k not in ("", ".", "..") for k, v in files.items()):
            raise TypeError  # each entry a name in outputs/ itself, with its stamp
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(
            f"not a build manifest ({exc.__class__.__name__})", where, hint="rerun `ftboot build`"
        ) from None
    for name, expected in files.items():
        target = outputs / name
        if not target.exists():
            problem = "is missing"
        elif _stamp(target) != {"bytes": expected.get("bytes"), "sha256": expected.get("sha256")}:
            problem = "differs"
        else:
            continue
        raise InputError(
            f"{problem} from build {build_id} ({shown}/{manifest}): these outputs are not one complete "
            "build; a build was cut short, or the file was changed since",
            Location(f"{shown}/{name}"),
            hint="rerun `ftboot build" + (" --format dpo`" if "-dpo" in manifest else "`"),
        )
    return build_id
