"""Cryptographic building blocks, with no knowledge of receipts.

Public modules:

* :mod:`.canonical` — RFC 8785 canonical JSON (``canonicalize``) and its limits
* :mod:`.keys` — Ed25519 keys: every accepted text form, key ids, generation
* :mod:`.digest` — BLAKE3 digests of files and directory trees (contract section 1)
* :mod:`.tree_split` — sharing a tree walk with forked helper processes (used by :mod:`.digest`)
* :mod:`.check_file` — ``hash --check`` files (attestkit's and b3sum's, escaped lines too)

Submodules are imported on demand so that verifying a receipt never loads BLAKE3.
"""
