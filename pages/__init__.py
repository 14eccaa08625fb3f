"""The dashboard's pages. The scripts live in `pages/views/`, not directly here: Streamlit treats
top-level scripts in `pages/` as legacy auto-discovered pages, and a first request that deep-links
to one (e.g. `/latent?...`) would then run it without `app.py`, the router."""
