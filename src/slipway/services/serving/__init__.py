"""Serving: the reconciler (the one writer of replicas and routes), the route tables it
pushes, and replica state published across processes."""
