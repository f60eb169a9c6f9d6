"""The lent-GPU workflow: prepare a payload, run a plan there, score what comes back."""
