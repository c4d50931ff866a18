"""Experiment reports: what each arm's users did with what they were served (``outcomes``, Spark), the
statistics per arm against control (``stats``), and the report files with their plots (``report``)."""
