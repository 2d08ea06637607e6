"""Dynamote: put a Hugging Face model onto NVIDIA Dynamo in Kubernetes.

Run with `streamlit run app.py`. This file sets up the page, logging, the
browser-stored settings and the sidebar, then runs the chosen page.
"""

import streamlit as st

from ui import logs, sidebar, storage
from ui.render import guard_page

st.set_page_config(
    page_title="Dynamote",
    page_icon=":material/rocket_launch:",
    layout="wide",
)
logs.configure_logging()

PAGES = [
    st.Page(
        "views/catalog.py",
        title="Catalog",
        icon=":material/apps:",
        default=True,
    ),
    st.Page(
        "views/configure.py",
        title="Configure",
        icon=":material/tune:",
        url_path="configure",
    ),
    st.Page(
        "views/deployments.py",
        title="Deployments",
        icon=":material/deployed_code:",
        url_path="deployments",
    ),
    # Opened from the list or a shared link, never from the navigation: in the
    # navigation, "Deployments" must lead back to the list.
    st.Page(
        "views/details.py",
        title="Deployment",
        icon=":material/deployed_code:",
        url_path="deployment",
        visibility="hidden",
    ),
    st.Page(
        "views/settings.py",
        title="Settings",
        icon=":material/settings:",
        url_path="settings",
    ),
]

page = st.navigation(PAGES)
with guard_page():
    storage.read_browser_storage()
# The page first: its content reaches the browser while the sidebar still asks the
# cluster how it is (the sidebar is its own container, so the order does not show).
with guard_page():
    page.run()
with guard_page():
    sidebar.render_connection_panel()
storage.render_browser_storage()
