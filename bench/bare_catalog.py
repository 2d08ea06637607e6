"""The yardstick for the Catalog benchmark: a bare Streamlit page with the same cards.

Each card has the elements of a Dynamote catalog card (a bordered box holding one
markdown text with name, id, badges and description, a two-line caption and a
button with a tooltip), two to a row, filled straight from catalog.json. No
navigation, sidebar, settings storage, search, fragment, cluster or Dynamote code
runs, so its first render is the framework's floor for this much content on this
machine.
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
        st.button(
            "Configure",
            key=f"bare_{index}",
            icon=":material/tune:",
            type="primary",
            help=f"Configure a deployment of {entry['id']}",
        )


st.title("Model catalog", anchor=False)
st.caption("Pick a Hugging Face model to serve with NVIDIA Dynamo.")
for start in range(0, len(entries), 2):
    for offset, column in enumerate(st.columns(2, gap="medium")):
        if start + offset < len(entries):
            with column:
                card(start + offset, entries[start + offset])
