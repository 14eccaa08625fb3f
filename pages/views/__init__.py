"""The page scripts: one per view, run by the router in app.py as `pages.specs` lists them. They render only."""
