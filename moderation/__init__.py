"""Self-hosted comment moderation: read dumps, score insult and trolling, and review.

Data flow: ``ingest`` (readers) -> ``features`` -> ``classifier`` -> ``scoring`` / ``store``
-> ``review`` (moderators) -> ``training`` -> ``registry``. See ARCHITECTURE in the README.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
