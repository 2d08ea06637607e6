"""Logging for the app process: one handler, configured once per process."""

from __future__ import annotations

import logging
import os

import streamlit as st


@st.cache_resource(show_spinner=False)
def configure_logging() -> None:
    """Send Dynamote's logs (app and library) to stderr at DYNAMOTE_LOG_LEVEL."""
    level = os.environ.get("DYNAMOTE_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    for name in ("dynamote_core", "ui", "__main__"):
        logger = logging.getLogger(name)
        logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
        logger.addHandler(handler)
        logger.propagate = False
