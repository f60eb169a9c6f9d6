"""The learning-curve study: plan -> one process per run -> report (``evaluate.py study``)."""
