"""A fake Kubernetes API server on loopback, for testing the Kubernetes runtime without a
cluster (Starlette served by uvicorn in a background thread with its own event loop).

    with FakeCluster(knative=True, ready_after=0.2) as cluster:
        client = httpx.Client(base_url=cluster.url, headers={"Authorization": "Bearer fake-token"})

What it serves (`api.py`): server-side apply (PATCH, application/apply-patch+yaml, a
fieldManager), create (POST), GET, list and watch (labelSelector, resourceVersion replay from
the last 1000 events, 410 beyond), DELETE with garbage collection by ownerReferences, the
Deployment `/scale` subresource (merge-patch), pod logs (follow too), discovery and /version;
for Namespaces, Secrets, Services, Pods, ConfigMaps, Deployments, HorizontalPodAutoscalers,
NetworkPolicies, HTTPRoutes, Jobs and (`knative=True`) Knative Services and Revisions.

What it simulates (`controllers.py`, `pods.py`): Deployments keep `spec.replicas` pods (a
template change rolls them), HPAs clamp their target's replicas every `hpa_sync_seconds`, Jobs
run one pod, Knative Services make Revisions whose routable ones get pods. A pod's first
container behaves as its environment's `FAKEKUBE_BEHAVIOUR` says: `ready` (the default, ready
after `ready_after` s), `crashloop`, `oom`, `never-ready`, `hang` (jobs); an image containing
`does-not-exist` is never pulled. A job's container exits with N when its command ends in
`exit N`, else 0, and logs `running: <command>`, its environment's names (sorted), `done`.
A job whose container image is kaniko's (`kaniko-project/executor`) builds instead
(`kaniko.py`): its init containers succeed at once, it logs kaniko-like lines, pushes a
minimal image to the registry in `--destination` and ends with the manifest digest as its
termination message; a RUN line ending in `exit N` (N > 0) fails the build.
"""

from __future__ import annotations

from tests.support.fakekube.cluster import FakeCluster

__all__ = ["FakeCluster"]
