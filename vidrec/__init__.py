"""vidrec: a batch-first video recommendation platform.

This package is the core every stage may import: settings, tables, dates, recstore, feast_config;
stdlib-only at import. The core imports nothing from the stages (spark_jobs, models, serving) nor from
its two subpackages: ``vidrec.sources`` (the landing-file writers, a stage) and ``vidrec.ops`` (the
composition root, on top of everything).
"""

__version__ = "0.1.0"
