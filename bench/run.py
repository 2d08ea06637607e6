"""Dynamote's benchmark: prints a table and writes docs/performance.md.

Run it with `scripts/bench` (or `.venv/bin/python -m bench.run`). It measures:

1. the Catalog page in headless Chromium (first card, and keystroke to filtered
   cards), next to a bare Streamlit page with the same cards;
2. manifest generation and validation per configuration;
3. the status table for 500 DGDs and 2,000 pods in the sandbox, and the API
   requests one refresh costs;
4. 1, 5 and 20 browser sessions on the Deployments page: API requests per minute
   reaching the cluster, and the Streamlit server's memory.

Targets are stated in docs/performance.md; nothing here asserts them, the table
shows them side by side.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.status import bench_status_table, fill_deployments  # noqa: E402
from bench.timing import Row, median_ms, p99_ms  # noqa: E402
from dynamote_core.catalog import load_catalog  # noqa: E402
from dynamote_core.config import DeploymentConfig  # noqa: E402
from dynamote_core.kube import new_api_client  # noqa: E402
from dynamote_core.manifest import build_graph_deployment  # noqa: E402
from dynamote_core.sandbox import CONTEXT, Sandbox  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    _free_port,
    _wait_healthy,
    streamlit_command,
)

# ------------------------------------------------------------ 2. manifests


def bench_manifests(repeat: int) -> list[Row]:
    catalog = load_catalog()
    model = catalog.get("Qwen/Qwen3-0.6B")
    grid = itertools.product(
        ("vllm", "sglang", "trtllm"),
        ("aggregated", "disaggregated"),
        ("none", "kv", "round-robin"),
        ("v1beta1", "v1alpha1"),
    )
    samples: list[float] = []
    for engine, mode, router, version in grid:
        config = DeploymentConfig(
            name=f"bench-{engine}",
            namespace="dynamo-system",
            model_id=model.id,
            engine=engine,
            mode=mode,
            router_mode=router,
        )
        for _ in range(repeat):
            start = time.perf_counter()
            build_graph_deployment(config, model, version)
            samples.append(time.perf_counter() - start)
    return [
        (
            "Manifest build + CRD validation (36 configurations)",
            f"median {median_ms(samples):.2f} ms, p99 {p99_ms(samples):.2f} ms",
            f"{len(samples)} builds",
        )
    ]


# ------------------------------------------------------------ browser parts


@contextmanager
def streamlit_app(script: str, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        process = subprocess.Popen(
            streamlit_command(script, port),
            cwd=ROOT,
            env={**os.environ, "HOME": home, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, 60)
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


# Both timings are taken inside the page, on the page's own clock, at the first
# animation frame where the condition holds. Timing from Python instead measured
# Playwright: `wait_for` polls at growing intervals (up to 500 ms), so the result
# depended on which poll the card happened to miss.
FIRST_CARD_JS = """
(() => {
    const isShown = (element) =>
        element.checkVisibility({ opacityProperty: true, visibilityProperty: true })
        && element.getBoundingClientRect().width > 0;
    const watch = () => {
        const buttons = document.querySelectorAll('button');
        for (const button of buttons) {
            if (button.innerText.trim().endsWith('Configure') && isShown(button)) {
                window.__firstCardMs = performance.now();
                return;
            }
        }
        requestAnimationFrame(watch);
    };
    requestAnimationFrame(watch);
})();
"""

SHOWN_CARDS = """([caption, cards]) =>
    [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
        .some(c => c.innerText.trim() === caption)
    && document.querySelectorAll('[class*="st-key-catalog_configure_"]').length
        === cards"""

# Arms a one-shot timer: it starts at the next keydown in the page and stops at
# the first animation frame showing `caption` and `cards` cards.
ARM_KEYSTROKE_JS = (
    """([caption, cards]) => {
    const shown = """
    + SHOWN_CARDS
    + """;
    window.__keystrokeMs = undefined;
    document.addEventListener('keydown', (event) => {
        const start = performance.now();
        const watch = () => {
            if (shown([caption, cards])) {
                window.__keystrokeMs = performance.now() - start;
            } else {
                requestAnimationFrame(watch);
            }
        };
        requestAnimationFrame(watch);
    }, { once: true, capture: true });
}"""
)


def time_first_card(browser: Any, url: str) -> float:
    """Seconds from navigation start to the first visible Configure button."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(FIRST_CARD_JS)
    page.goto(url)
    page.wait_for_function(
        "window.__firstCardMs !== undefined", polling="raf", timeout=30_000
    )
    elapsed_ms = page.evaluate("window.__firstCardMs")
    context.close()
    return float(elapsed_ms) / 1000


def time_search_keystroke(browser: Any, url: str, rounds: int) -> list[float]:
    """Keystroke "3" after "qwen" (7 cards) until the 4 Qwen3 cards alone show."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(SHOWN_CARDS, arg=["20 of 20 models", 20], timeout=30_000)
    search = page.get_by_label("Search models")
    search.press_sequentially("qwen")
    page.wait_for_function(SHOWN_CARDS, arg=["7 of 20 models", 7], timeout=10_000)
    samples = []
    for _ in range(rounds):
        samples.append(_time_keystroke(page, search, "3", ["4 of 20 models", 4]))
        _time_keystroke(page, search, "Backspace", ["7 of 20 models", 7])
    context.close()
    return samples


def _time_keystroke(page: Any, search: Any, key: str, shown: list[Any]) -> float:
    page.evaluate(ARM_KEYSTROKE_JS, shown)
    search.press(key)
    page.wait_for_function(
        "window.__keystrokeMs !== undefined", polling="raf", timeout=10_000
    )
    return float(page.evaluate("window.__keystrokeMs")) / 1000


def bench_catalog(rounds: int) -> list[Row]:
    env = {"DYNAMOTE_SANDBOX": "on"}
    app_samples: list[float] = []
    bare_samples: list[float] = []
    widget_samples: list[float] = []
    with (
        chromium() as browser,
        streamlit_app("app.py", env) as (app_url, _),
        streamlit_app("bench/bare_catalog.py", {}) as (bare_url, _),
    ):
        widgets_url = f"{bare_url}/?widgets=on"
        time_first_card(browser, app_url)  # warm both servers' script caches
        time_first_card(browser, bare_url)
        for _ in range(rounds):
            app_samples.append(time_first_card(browser, app_url))
            bare_samples.append(time_first_card(browser, bare_url))
            widget_samples.append(time_first_card(browser, widgets_url))
        search = time_search_keystroke(browser, app_url, rounds)
    bare = statistics.median(bare_samples)
    ratio = statistics.median(app_samples) / bare
    return [
        (
            f"Catalog first card (median of {rounds})",
            f"{median_ms(app_samples):.0f} ms vs bare page "
            f"{median_ms(bare_samples):.0f} ms = {ratio:.2f}x",
            "target ≤ 1.15x bare",
        ),
        (
            "  the bare page with the Catalog's search box and chips",
            f"{median_ms(widget_samples):.0f} ms = "
            f"{statistics.median(widget_samples) / bare:.2f}x bare",
            "the framework's share of the gap",
        ),
        (
            f"Search keystroke to filtered cards (median of {rounds})",
            f"median {median_ms(search):.0f} ms, p99 {p99_ms(search):.0f} ms",
            "target < 200 ms (aim 100 ms)",
        ),
    ]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_sessions(seconds: float, counts: tuple[int, ...]) -> list[Row]:
    rows: list[Row] = []
    catalog = load_catalog()
    model = catalog.get("Qwen/Qwen3-0.6B")
    with Sandbox(speed=0.05) as sandbox, tempfile.TemporaryDirectory() as tmp:
        kubeconfig = sandbox.write_kubeconfig(Path(tmp) / "kubeconfig")
        fill_deployments(new_api_client(str(kubeconfig), CONTEXT), model, 0, 5)
        env = {
            "DYNAMOTE_SANDBOX": "off",
            "KUBECONFIG": str(kubeconfig),
            "DYNAMOTE_REFRESH_SECONDS": "10",
        }
        per_minute: dict[int, float] = {}
        with chromium() as browser, streamlit_app("app.py", env) as (url, pid):
            for count in counts:
                contexts = [browser.new_context() for _ in range(count)]
                for context in contexts:
                    context.new_page().goto(f"{url}/deployments")
                time.sleep(5)  # let every session finish its first render
                before = sandbox.request_count
                time.sleep(seconds)
                per_minute[count] = (sandbox.request_count - before) * 60 / seconds
                memory = rss_mib(pid)
                rows.append(
                    (
                        f"{count} session(s) on Deployments for {seconds:.0f} s",
                        f"{per_minute[count]:.0f} API requests/min, "
                        f"server RSS {memory:.0f} MiB",
                        "",
                    )
                )
                for context in contexts:
                    context.close()
    if 1 in per_minute and 20 in per_minute and per_minute[1]:
        rows.append(
            (
                "Requests/min, 20 sessions vs 1",
                f"{per_minute[20] / per_minute[1]:.2f}x",
                "target ≤ 2x",
            )
        )
    return rows


# ------------------------------------------------------------ report


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def write_report(rows: list[Row], path: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Performance",
        "",
        f"Measured {stamp} on {machine()} by `scripts/bench`.",
        "",
        "| what | result | target |",
        "|---|---|---|",
        *[f"| {what} | {result} | {target} |" for what, result, target in rows],
        "",
    ]
    text = "\n".join(lines)
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        text += "\n" + notes.read_text()
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer rounds, shorter soak"
    )
    parser.add_argument(
        "--only",
        choices=["catalog", "manifests", "status", "sessions"],
        action="append",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    parts: dict[str, Callable[[], list[Row]]] = {
        "catalog": lambda: bench_catalog(5 if quick else 20),
        "manifests": lambda: bench_manifests(5 if quick else 50),
        "status": lambda: bench_status_table(500, 5 if quick else 20),
        "sessions": lambda: bench_sessions(15 if quick else 60, (1, 5, 20)),
    }
    rows: list[Row] = []
    for name, part in parts.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} …", flush=True)
        rows.extend(part())
    print(write_report(rows, ROOT / "docs" / "performance.md"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
