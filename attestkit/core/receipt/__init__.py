"""Receipts as documents: strict reading, shape rules, writing, signing and DSSE envelopes.

Public modules:

* :mod:`.reader` — strict JSON/YAML reading (contract section 2): ``parse_document``, ``Receipt``
* :mod:`.shape` — structural rules for receipt fields (types, digests, safe artifact paths)
* :mod:`.yaml_reader` — the strict YAML subset receipts may be written in
* :mod:`.writer` — receipts as JSON or YAML text
* :mod:`.signing` — signing a receipt and checking its signature
* :mod:`.dsse` — in-toto Statements inside DSSE envelopes
"""
