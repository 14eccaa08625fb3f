"""Jobs on a Ray cluster (an optional extra: `pip install -e .[ray]`). Only this package imports ray; the app
and the one-machine build never do."""
