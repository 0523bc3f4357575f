"""rempart: coverage verification for third-party-payment health insurance."""

__version__ = "0.1.0"
