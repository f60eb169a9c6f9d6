"""Is a generated image real enough? A reader study for a clinician, and its automated twin."""
