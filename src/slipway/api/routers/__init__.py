"""One router per resource of the Deploy API."""
