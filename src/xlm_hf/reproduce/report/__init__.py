"""The study's report: ``study_results.json``, ``tables.md`` and ``plots/*.png`` from the step
outputs (`summaries` makes the figures, `tables` the Markdown, `plots` the PNG files)."""
