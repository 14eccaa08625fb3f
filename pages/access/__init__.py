"""The pages' one door to the backend: reads (data.py, lens_data.py; cached, keyed on artifact stamps by keyed.py),
computing (actions.py), and the view a URL names (state.py)."""
