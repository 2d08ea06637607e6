"""Dynamote's library: catalog, settings, manifests, cluster operations, sandbox.

It never imports Streamlit; the app in `app.py` and `views/` is its only UI.
"""

__version__ = "0.1.0"
