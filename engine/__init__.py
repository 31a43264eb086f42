"""engine: a plain-PyTorch training engine (config -> scheduler -> trainer -> model bundle)."""

__version__ = "0.1.0"
