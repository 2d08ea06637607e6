"""`python -m dynamote_core.sandbox`: run the sandbox cluster until Ctrl-C.

Prints the API URL and the kubeconfig path; only for people and scripts, never
imported by the library.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from dynamote_core.sandbox.runtime import CONTEXT, Sandbox


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: port, kubeconfig path, node spec, speed, alpha-only, dynamo."""
    parser = argparse.ArgumentParser(prog="python -m dynamote_core.sandbox")
    parser.add_argument(
        "--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)"
    )
    parser.add_argument("--kubeconfig", type=Path, default=Path("sandbox.kubeconfig"))
    parser.add_argument(
        "--nodes", default=None, help='e.g. "2x8xA100-80,1x4xL4-24,1xcpu"'
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="seconds per operator tick"
    )
    parser.add_argument(
        "--alpha-only", action="store_true", help="serve only nvidia.com/v1alpha1"
    )
    parser.add_argument(
        "--dynamo",
        action="store_true",
        help="serve Ready DGDs with the real Dynamo frontend and mocker "
        "(needs scripts/install_dynamo_runtime)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, print where it is, wait for Ctrl-C or SIGTERM."""
    arguments = parse_arguments(argv)
    versions = ("v1alpha1",) if arguments.alpha_only else ("v1beta1", "v1alpha1")
    sandbox = Sandbox(
        arguments.port,
        arguments.nodes,
        arguments.speed,
        versions,
        dynamo_runtime=arguments.dynamo,
    ).start()
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # SIGTERM (a supervisor, `kill`) must stop the Dynamo processes like Ctrl-C does.
    signal.signal(signal.SIGTERM, request_stop)
    path = sandbox.write_kubeconfig(arguments.kubeconfig).resolve()
    print(f"Sandbox cluster at {sandbox.url}", flush=True)
    print(f"kubeconfig: {path} (context {CONTEXT})")
    if arguments.dynamo:
        state = "on" if sandbox.serves_dynamo else "not installed (DGDs are simulated)"
        print(f"Dynamo runtime: {state}")
    print(f"try: kubectl --kubeconfig {path} get nodes", flush=True)
    try:
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping", flush=True)
        sandbox.stop()


if __name__ == "__main__":
    main()
