"""The yardstick for the Catalog benchmark: a bare Streamlit page with the same cards.

Each card has the elements of a Dynamote catalog card (a bordered box holding one
markdown text with name, id, badges and description, a two-line caption, a
stretching space and a button with a tooltip), two to a row, filled straight from
catalog.json. No navigation, sidebar, settings storage, search, fragment, cluster
or Dynamote code runs, so its first render is the framework's floor for this much
content on this machine.

With `?widgets=on` it also shows a search box and the two rows of filter chips the
Catalog has, above the cards and doing nothing: what those widgets alone cost the
browser, to tell the framework's share of the Catalog's time from Dynamote's.
"""

import json
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
entries = json.loads((ROOT / "catalog.json").read_text())


def card(index: int, entry: dict) -> None:
    badges = [
        f":blue-badge[:material/category: {entry['task']}]",
        f":gray-badge[:material/straighten: {entry['size_label']}]",
        f":violet-badge[:material/gavel: {entry['license']}]",
    ]
    if entry.get("gated"):
        badges.append(":orange-badge[:material/lock: Gated]")
    with st.container(border=True, height="stretch"):
        st.markdown(
            f"**{entry['display_name']}**  \n:small[:gray[{entry['id']}]]\n\n"
            + " ".join(badges)
            + "\n\n"
            + entry["description"]
        )
        st.caption(
            "≈ 10 GiB GPU memory per worker at 32k context  \n"
            "Engines: " + ", ".join(entry.get("engines", []))
        )
        st.space("stretch")
        st.button(
            "Configure",
            key=f"bare_{index}",
            icon=":material/tune:",
            type="primary",
            help=f"Configure a deployment of {entry['id']}",
        )


st.title("Model catalog", anchor=False)
st.caption("Pick a Hugging Face model to serve with NVIDIA Dynamo.")
if st.query_params.get("widgets") == "on":
    st.text_input("Search models", type="search", placeholder="Name, Hugging Face id…")
    with st.container(horizontal=True, gap="large"):
        st.pills("Task", sorted({e["task"] for e in entries}), selection_mode="multi")
        engines = sorted({engine for e in entries for engine in e.get("engines", [])})
        st.pills("Engine", engines, selection_mode="multi")
    st.caption(f"{len(entries)} of {len(entries)} models")
for start in range(0, len(entries), 2):
    for offset, column in enumerate(st.columns(2, gap="medium")):
        if start + offset < len(entries):
            with column:
                card(start + offset, entries[start + offset])
