"""The Redis store of published recommendation lists, shared by the batch writer and the API reader.

Owns: the key scheme and row layout (``keys``), the encoding of lists (packed), catalog rows and meta
(``codec``), the synchronous writer used by ``models.publish`` and ``vidrec publish``
(``writer.RecoStore``: publish, rollback, status), the API's asyncio reader (``reader.AsyncRecoStore``)
and its per-version in-memory catalog of display fields (``catalog``).

May import: the standard library and ``vidrec`` core modules only; ``redis`` is imported lazily, when a
store is built. Never imports vidrec.ops, vidrec.sources, spark_jobs, models or serving. Import the
submodules explicitly (``from vidrec.recstore import keys``); this package re-exports nothing.
"""
