"""The yardstick for the Catalog benchmark: a bare Streamlit page with the same cards.

Each card has the elements of a Dynamote catalog card (title, id, badges with
icons, description, captions, a button), two to a row, filled straight from
catalog.json. No navigation, sidebar, settings storage, search, fragment, cluster
or Dynamote code runs, so its first render is the framework's floor for this much
content on this machine.
"""

import json
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
entries = json.loads((ROOT / "catalog.json").read_text())


def card(index: int, entry: dict) -> None:
    with st.container(border=True, height="stretch"):
        st.markdown(f"**{entry['display_name']}**")
        st.caption(entry["id"])
        with st.container(horizontal=True, gap="small"):
            st.badge(entry["task"], icon=":material/category:", color="blue")
            st.badge(entry["size_label"], icon=":material/straighten:", color="gray")
            st.badge(entry["license"], icon=":material/gavel:", color="violet")
            if entry.get("gated"):
                st.badge("Gated", icon=":material/lock:", color="orange")
        st.markdown(entry["description"])
        st.caption("≈ 10 GiB GPU memory per worker at 32k context")
        st.caption("Engines: " + ", ".join(entry.get("engines", [])))
        st.button(
            "Configure", key=f"bare_{index}", icon=":material/tune:", type="primary"
        )


st.title("Model catalog", anchor=False)
st.caption("Pick a Hugging Face model to serve with NVIDIA Dynamo.")
for start in range(0, len(entries), 2):
    for offset, column in enumerate(st.columns(2, gap="medium")):
        if start + offset < len(entries):
            with column:
                card(start + offset, entries[start + offset])
