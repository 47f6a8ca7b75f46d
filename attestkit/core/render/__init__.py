"""Rendering verification results for people and CI systems (pure: text in, text out).

Public modules:

* :mod:`.ci_reports` — SARIF 2.1.0, JUnit XML and GitHub annotations/step summaries
* :mod:`.html_report` — the self-contained HTML audit report (``render_html`` over ``ReportRow``)
"""
