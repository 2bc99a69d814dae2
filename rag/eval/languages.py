"""Retrieval metrics per language, for query sets whose queries carry `metadata.lang` (e.g. XQuAD).

Each language's row is the mean over that language's queries of the same per-query metrics as the overall
row; the overall row is over all queries scored. Which documents count as relevant is the qrels' business:
in the XQuAD set, a question's paragraph in any language is relevant (grade 2 in its own, 1 in the others),
so Success@5 there is "its paragraph, in any language, among the first 5".
"""

from __future__ import annotations

from collections.abc import Callable


def first_per_language(qids: list[str], lang_of: dict[str, str], n: int) -> list[str]:
    """The first n query ids of each language in id order (ids without a language form one group of their own).

    When ids differ only by a language prefix, as in XQuAD ("de-<squad id>"), these are the same questions in
    every language."""
    taken: dict[str, int] = {}
    out: list[str] = []
    for qid in sorted(qids):
        lang = lang_of.get(qid, "")
        if taken.get(lang, 0) < n:
            taken[lang] = taken.get(lang, 0) + 1
            out.append(qid)
    return out


def score_by_language(
    run: dict[str, list[str]],
    lang_of: dict[str, str],
    score: Callable[[dict[str, list[str]], dict[str, dict[str, int]]], dict[str, float]],
    qrels: dict[str, dict[str, int]],
) -> dict[str, dict[str, float]]:
    """{language: {"queries": n, metric: mean}}, languages in alphabetical order; queries without one are left out."""
    groups: dict[str, dict[str, list[str]]] = {}
    for qid, ranking in run.items():
        if qid in lang_of:
            groups.setdefault(lang_of[qid], {})[qid] = ranking
    return {lang: {"queries": len(groups[lang]), **score(groups[lang], qrels)} for lang in sorted(groups)}


def format_languages(by_language: dict[str, dict[str, float]], overall: dict[str, float], queries: int) -> list[str]:
    """The per-language table `rag eval` prints under the overall figures."""
    lines = [
        "per language (the queries' metadata.lang):",
        f"{'lang':<6} {'queries':>7} {'nDCG@10':>8} {'Recall@10':>9} {'MRR@10':>7} {'relevant in top 5':>17}",
    ]
    rows = [*by_language.items(), ("all", {"queries": queries, **overall})]
    for lang, m in rows:
        lines.append(
            f"{lang:<6} {int(m['queries']):>7} {m['ndcg@10']:>8.4f} {m['recall@10']:>9.4f} {m['mrr@10']:>7.4f} "
            f"{m['success@5']:>16.1%}"
        )
    return lines
