"""Verifying receipts: one function per check, the typed result, bulk verification.

Public modules:

* :mod:`.api` — ``Verifier``: the front door (one receipt, or many in order)
* :mod:`.verifier` — ``verify_document``/``VerifyOptions``: the orchestration of every check
* :mod:`.artifacts` — recorded artifacts against a directory on disk
* :mod:`.result` — ``VerificationResult`` and ``Check``, convertible to the contract JSON
* :mod:`.bulk` — many receipts on every core, in input order, with bounded memory
"""
