"""Support code for the Streamlit pages: session keys, cached cluster access,
browser-stored settings and small render helpers. Never imports `kubernetes`."""
