"""in-toto Statements and the standard predicates attestkit writes and reads.

Public modules:

* :mod:`.statement` — subjects from a receipt (blake3, and sha256 from the artifacts on disk),
  the tolerant subject check for statements other tools wrote, the in-toto key id of a key
* :mod:`.subjects` — sha256 + blake3 subjects hashed from an artifacts directory
* :mod:`.predicates` — SLSA Provenance v1 and in-toto Test Result v0.1 built from a receipt,
  and the receipt they carry read back
* :mod:`.vsa` — a signed SLSA Verification Summary (VSA v1) for a verify run, and its check
"""
