"""The producing side: pipeline files, step records, finalised receipts, test/scan summaries.

Public modules:

* :mod:`.pipeline` — ``attest.yaml`` validation and the step DAG
* :mod:`.producer` — step records, drafts, finalisation, JUnit and scanner summaries
"""
