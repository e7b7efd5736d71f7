"""Deploying: the worker and the pipeline (build, release, rollout), the deployment's log,
and recovery of deployments whose process died."""
