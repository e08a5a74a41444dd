"""247trader: one stateless trading cycle at a time, on AWS Lambda or locally."""

__version__ = "0.1.0"
