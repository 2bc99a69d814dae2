"""The vector store: a Chroma collection (on disk, or a `chroma run` server) keyed by content-derived ids.

We hand Chroma our own vectors and never let it embed: its default embedding function downloads a model
at run time, and the collection's metadata records which model made the vectors so a mismatch is caught.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.config import Settings, public_url

log = logging.getLogger(__name__)


class EmbeddingMismatch(RuntimeError):
    pass


class StoreUnavailable(RuntimeError):
    pass


# Who may read a chunk, in its metadata: one boolean key per group ("grp:hr": True), which Chroma's `where` can
# filter on with $or (it cannot test a list against several values with $in). A key absent = not that group.
GROUP_KEY = "grp:"


def group_meta(groups: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The metadata keys that mark a chunk readable by these groups."""
    return {GROUP_KEY + g: True for g in groups}


def readable_where(allowed: frozenset[str] | None) -> dict[str, Any] | None:
    """Chroma's `where` for chunks one of these groups may read; None = no filter. Never call it with an empty
    set (nothing is readable: search nothing)."""
    if allowed is None:
        return None
    terms: list[dict[str, Any]] = [{GROUP_KEY + g: True} for g in sorted(allowed)]
    return terms[0] if len(terms) == 1 else {"$or": terms}


def readable(meta: Any, allowed: frozenset[str]) -> bool:
    """Whether a chunk with this metadata may be read by one of these groups."""
    return bool(meta) and any(meta.get(GROUP_KEY + g) is True for g in allowed)


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    meta: dict[str, Any]


def make_chroma_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as e:
            raise StoreUnavailable(
                f"cannot reach the Chroma server at {public_url(settings.chroma_url)}: {e}; start it with "
                f"'chroma run --path DIR --port N' or unset RAG_CHROMA_URL to use files on disk"
            ) from e
    settings.chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=chroma_settings)


class VectorStore:
    def __init__(self, client: Any, collection: str, embedding_model: str, dim: int | None = None) -> None:
        self.collection = client.get_or_create_collection(
            collection,
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "embedding_model": embedding_model},
        )
        recorded = (self.collection.metadata or {}).get("embedding_model")
        if recorded != embedding_model:
            raise EmbeddingMismatch(
                f"collection '{collection}' holds vectors made by '{recorded}', but the embedding model in "
                f"force is '{embedding_model}'. Use another collection (RAG_COLLECTION=...) or set the "
                f"embedding backend back to the one that built it."
            )

    def ids_for(self, source: str) -> set[str]:
        return set(self.collection.get(where={"source": source}, include=[])["ids"])

    def ids_by_source(self, sources: list[str]) -> dict[str, set[str]]:
        """Stored chunk ids of many documents, in a few queries rather than one per document."""
        out: dict[str, set[str]] = {s: set() for s in sources}
        for b in range(0, len(sources), 200):
            part = sources[b : b + 200]
            got = self.collection.get(where={"source": {"$in": part}}, include=["metadatas"])
            for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
                out[meta["source"]].add(cid)
        return out

    def all_sources(self) -> set[str]:
        got = self.collection.get(include=["metadatas"])
        return {m["source"] for m in got["metadatas"] or []}

    def upsert(self, ids: list[str], vectors: np.ndarray, metas: list[dict[str, Any]]) -> None:
        """Vectors and positions only. The text is kept by the keyword index: Chroma's local store would keep it
        three more times (a metadata row with its own B-tree index, and a trigram full-text index we never
        query), which was most of its page writes and the part that slowed down as the index grew."""
        if ids:
            self.collection.upsert(ids=ids, embeddings=vectors.tolist(), metadatas=metas)

    def update_meta(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        """Chroma merges the keys given into each chunk's metadata; a key given as None is removed."""
        for b in range(0, len(ids), 500):
            self.collection.update(ids=ids[b : b + 500], metadatas=metas[b : b + 500])

    def set_groups(self, ids: list[str], groups: tuple[str, ...]) -> None:
        """Make these chunks readable by exactly these groups: new group keys set, every other one removed (read
        from the chunks themselves, so a key a previous run left behind goes too). Nothing is re-embedded."""
        wanted = group_meta(groups)
        for b in range(0, len(ids), 500):
            part = ids[b : b + 500]
            got = self.collection.get(ids=part, include=["metadatas"])
            metas = []
            for meta in got["metadatas"] or []:
                stale = {k: None for k in meta or {} if k.startswith(GROUP_KEY) and k not in wanted}
                metas.append(wanted | stale)
            if got["ids"]:
                self.collection.update(ids=got["ids"], metadatas=metas)

    def delete(self, ids: list[str]) -> None:
        for b in range(0, len(ids), 500):
            self.collection.delete(ids=ids[b : b + 500])

    def query(self, vector: np.ndarray, k: int) -> list[tuple[StoredChunk, float]]:
        """Nearest chunks with cosine similarity, best first."""
        res = self.collection.query(
            query_embeddings=[vector.tolist()], n_results=k, include=["documents", "metadatas", "distances"]
        )
        out = []
        for cid, doc, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            out.append((StoredChunk(cid, doc or "", dict(meta)), 1.0 - float(dist)))
        return out

    def nearest(self, vector: np.ndarray, k: int, allowed: frozenset[str] | None = None) -> list[tuple[str, float]]:
        """Nearest chunk ids with cosine similarity, best first. No text or metadata: a deep candidate list
        costs a few ms this way, against ~15 ms per 100 chunks when Chroma also reads their documents.

        No count() first: Chroma 1.5 returns fewer than k (none from an empty collection) without complaint, and
        its count() reads the whole collection: 18 ms at 100k chunks, twice per search.

        `allowed`: only chunks these groups may read, by Chroma's own `where` (one boolean key per group). It
        costs in proportion to the chunks it matches, not to k (~50 us a matching chunk at 100k chunks on our
        2-core machine): Retriever.nearest uses it only for readers who may read a small share of the index."""
        if allowed is not None and not allowed:
            return []
        res = self.collection.query(
            query_embeddings=[vector.tolist()], n_results=k, where=readable_where(allowed), include=["distances"]
        )
        return [(cid, 1.0 - float(dist)) for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)]

    def get(
        self, ids: list[str], with_vectors: bool = False, allowed: frozenset[str] | None = None
    ) -> tuple[list[StoredChunk], np.ndarray | None]:
        """The chunks with these ids that exist (and, given `allowed`, that one of these groups may read)."""
        include = ["documents", "metadatas"] + (["embeddings"] if with_vectors else [])
        if not ids or (allowed is not None and not allowed):
            return [], None
        # Checked on each chunk's own groups as it is read, not by a `where`: Chroma evaluates a `where` over the
        # whole collection before it looks at the ids (100+ ms at 100k chunks), and the metadata is read anyway.
        res = self.collection.get(ids=ids, include=include)
        if allowed is not None:
            keep = [i for i, m in enumerate(res["metadatas"]) if readable(m, allowed)]
            res = {
                key: ([res[key][i] for i in keep] if res.get(key) is not None else None)
                for key in ("ids", "documents", "metadatas", "embeddings")
            }
        # Chunks stored before the text moved to the keyword index still carry it here; newer ones have None.
        chunks = [
            StoredChunk(cid, doc or "", dict(meta))
            for cid, doc, meta in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        ]
        vectors = np.asarray(res["embeddings"], dtype=np.float32) if with_vectors and len(chunks) else None
        return chunks, vectors

    def count(self) -> int:
        return int(self.collection.count())
