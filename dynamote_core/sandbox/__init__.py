"""The sandbox cluster: a Kubernetes API on 127.0.0.1 with a simulated Dynamo operator.

Tests, demos and newcomers without a cluster use it through the real `kubernetes`
client and a kubeconfig. It never talks to a real cluster.
"""

from dynamote_core.sandbox.runtime import CONTEXT, Sandbox

__all__ = ["CONTEXT", "Sandbox"]
