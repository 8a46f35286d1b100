"""Ports: the small Protocols that services depend on and adapters implement."""
