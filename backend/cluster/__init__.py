"""Jobs on a Ray cluster (an optional extra: requirements-ray.txt). Only this package imports ray; the app
and the one-machine build never do."""
