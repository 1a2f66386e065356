"""artifactctl's benchmark harness: ``python -m bench`` (or ``make bench``)."""
