"""Which keys are trusted, for whom, and when.

Public modules:

* :mod:`.store` — ``TrustStore`` and ``TrustedKey``: trusted keys and the identity of each
* :mod:`.keyring` — keyring documents: loading, merging and the pure edit functions
* :mod:`.delegation` — signed delegation statements from a root key to a signing key
* :mod:`.chain` — the trust decision for one receipt (``decide_receipt_trust``) and key status
* :mod:`.graph` — the trust graph (``build_graph``) and its DOT and Mermaid text
"""
