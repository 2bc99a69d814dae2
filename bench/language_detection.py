"""Language detection on XQuAD's dev part: accuracy per language and time per text, questions and paragraphs.

    PYTHONPATH=$PWD python bench/language_detection.py

Compares CLD2 alone, langid alone (its 97 languages) and rag.text.detect_language (CLD2 when it says it is
reliable, else langid over the languages analysed here). Writes bench/results/language-detection.json.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pycld2

from rag.text import detect_language

ROOT = Path(__file__).resolve().parent.parent
XQUAD = Path("/work/shared/evaldata/xquad")


def cld2_alone(text: str) -> str:
    try:
        _, _, found = pycld2.detect(text)
    except pycld2.error:  # CLD2 rejects some characters (a few XQuAD paragraphs hold them)
        return "un"
    code = found[0][1]
    return "zh" if code.startswith("zh") else code


def main() -> None:
    from langid.langid import LanguageIdentifier, model

    start = time.perf_counter()
    identifier = LanguageIdentifier.from_modelstring(model, norm_probs=False)
    langid_load = time.perf_counter() - start
    detect_language("Сколько жителей?")  # loads rag.text's own langid once, outside the timings

    questions = [json.loads(line) for line in (XQUAD / "queries.jsonl").open(encoding="utf-8")]
    with gzip.open(XQUAD / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        paragraphs = [json.loads(line) for line in f]
    detectors: dict[str, Callable[[str], str]] = {
        "cld2": cld2_alone,
        "langid": lambda t: str(identifier.classify(t)[0]),
        "detect_language": detect_language,
    }
    result: dict[str, object] = {"langid_load_seconds": round(langid_load, 2)}
    for name, detect in detectors.items():
        for kind, rows in (("questions", questions), ("paragraphs", paragraphs)):
            right: Counter[str] = Counter()
            total: Counter[str] = Counter()
            start = time.perf_counter()
            for row in rows:
                lang = row["metadata"]["lang"]
                total[lang] += 1
                right[lang] += detect(row["text"]) == lang
            ms = (time.perf_counter() - start) / len(rows) * 1000
            result[f"{name}/{kind}"] = {
                "accuracy": round(sum(right.values()) / len(rows), 4),
                "ms_per_text": round(ms, 3),
                "per_language": {lang: round(right[lang] / total[lang], 3) for lang in sorted(total)},
            }
            print(f"{name:16} {kind:10} {sum(right.values()) / len(rows):.3f}  {ms:.3f} ms")
    out = ROOT / "bench" / "results" / "language-detection.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"langid loads in {langid_load:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
