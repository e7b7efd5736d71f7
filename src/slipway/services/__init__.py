"""Use cases. Each module is one resource's operations; they use the domain and the ports
only, so every backend (SQLite or PostgreSQL, local or Kubernetes runtime) fits under them."""
