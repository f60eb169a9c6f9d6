"""This project's own tools: the lent-accelerator workflow and the crash soak (not part of the package)."""
