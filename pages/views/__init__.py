"""The pages (one script per view, run by the router in app.py) and the modules they share."""
