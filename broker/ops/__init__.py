"""What operators and their monitoring ask of a running broker: /healthz, /readyz, /metrics."""
