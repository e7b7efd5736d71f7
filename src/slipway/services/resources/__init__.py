"""The API's use cases, one module per resource (apps, keys, deployments, traffic, scale,
rollback, logs, metrics); each validates, writes desired state and asks the layers below
to act."""
