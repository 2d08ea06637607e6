"""The yardstick for the Catalog benchmark: a bare Streamlit page with the same cards.

It shows as many bordered cards (title, id, badges, text, a button) as the catalog
holds, with no search, no cluster and no Dynamote code, so its first render is the
framework's floor on this machine.
"""

import json
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
models = json.loads((ROOT / "catalog.json").read_text())
entries = models["models"] if isinstance(models, dict) else models

st.title("Model catalog", anchor=False)
with st.container(horizontal=True, wrap=True, gap="medium"):
    for index, entry in enumerate(entries):
        with st.container(border=True, width=340, height="stretch"):
            st.markdown(f"**{entry.get('display_name', entry.get('id'))}**")
            st.caption(str(entry.get("id")))
            with st.container(horizontal=True, gap="small"):
                st.badge(str(entry.get("task", "")), color="blue")
                st.badge(str(entry.get("license", "")), color="violet")
            st.markdown(str(entry.get("description", "")))
            st.button("Configure", key=f"bare_{index}", type="primary")
