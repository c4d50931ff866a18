"""The Redis store of published recommendation lists, shared by the batch writer and the API reader.

Owns: the key scheme and row layout (``keys``), the JSON encoding of lists and meta (``codec``), the
synchronous writer used by ``models.publish`` and ``vidrec publish`` (``writer.RecoStore``: publish,
rollback, status) and the API's asyncio reader (``reader.AsyncRecoStore``).

May import: the standard library and ``vidrec`` core modules only; ``redis`` is imported lazily, when a
store is built. Never imports vidrec.ops, vidrec.sources, spark_jobs, models or serving. Import the
submodules explicitly (``from vidrec.recstore import keys``); this package re-exports nothing.
"""
