"""``Retriever.as_llamaindex()``: our hybrid retriever as a LlamaIndex ``BaseRetriever``.

Imported only when asked for: llama_index.core costs ~1.4 s to import.
"""

from __future__ import annotations

from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode


class PassageRetriever(BaseRetriever):
    def __init__(self, retriever, k: int = 10, **filters):
        super().__init__()
        self._retriever = retriever
        self._k = k
        self._filters = filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        passages = self._retriever.search(query_bundle.query_str, k=self._k, **self._filters)
        return [
            NodeWithScore(
                node=TextNode(
                    id_=p.chunk_id,
                    text=p.text,
                    metadata={
                        "article_id": p.article_id,
                        "title": p.title,
                        "url": p.url,
                        "date": p.date,
                        "source": p.source,
                        "start": p.start,
                        "end": p.end,
                    },
                ),
                score=p.score,
            )
            for p in passages
        ]
