"""The HTML audit report of a verification run: one self-contained file, text in, text out.

The page carries no reference to anything outside itself (no script, style, font or image
URL) and a Content-Security-Policy that forbids fetching anything (``default-src 'none'``);
its one script is allowed by its SHA-256 hash. Receipts are hostile input, so no value
from a receipt ever becomes markup:

* the summary, the command and the trust material are rendered here with every value
  HTML-escaped (:func:`html_text`), after control, bidi and other invisible characters were
  made visible (:func:`attestkit.core.textsafe.escape_text`);
* the receipts go into a ``<script type="application/json">`` block (never executed) in
  which every ``<``, ``>`` and ``&`` is a ``\\u`` escape, so no value can close the block;
  the script parses it and writes each value with ``textContent`` only.

Large runs stay usable: the table is virtualised (only the rows in view exist in the DOM)
and the timeline draws counts per time bucket, so 100,000 receipts load in a few seconds
(benchmarks/html_bench.py).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from attestkit.core.textsafe import escape_text
from attestkit.core.timeutil import format_rfc3339
from attestkit.core.trust.store import TrustStore
from attestkit.core.verify.result import Check, VerificationResult

VALID, INVALID, ERROR = "valid", "invalid", "error"


@dataclass(frozen=True)
class ReportRow:
    """One receipt as the report shows it (values as they came: escaping happens at rendering)."""

    source: str
    verdict: str  # "valid", "invalid", or "error" (could not be checked)
    chain_of_trust: str
    signer: str | None = None
    key_id: str | None = None
    timestamp: str | None = None  # RFC 3339 UTC, when the receipt's timestamp was read
    failed: tuple[Check, ...] = ()

    @property
    def failure_codes(self) -> tuple[str, ...]:
        """``check/code`` of each failed check (the SARIF rule id form), without repeats."""
        return tuple(dict.fromkeys(failure_code(c) for c in self.failed))


@dataclass(frozen=True)
class KeyEvent:
    """A date in a key's life the timeline marks (from the keyring)."""

    key_id: str
    kind: str  # "not-before", "not-after", "revoked", "rotation", "delegated", "delegation-ends"
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class Material:
    """An input the verdicts came from: trust material, a policy, the pipeline file..."""

    role: str
    name: str
    digest: str | None = None  # blake3:<hex> of the file, when it is a file


@dataclass(frozen=True)
class ReportContext:
    """Everything about the run that is not a receipt."""

    command: Sequence[str] = ()
    generated_at: datetime | None = None
    material: Sequence[Material] = ()
    key_events: Sequence[KeyEvent] = ()
    key_identities: dict[str, str] = field(default_factory=dict)  # key id -> identity, from the trust store
    title: str = "attestkit verify"


def failure_code(check: Check) -> str:
    """The code a failed check is counted under: ``policy/<name>`` or ``<check>/<code>``.

    A check that could not be made says so (``policy/<name>/not-evaluated``): a malformed
    receipt is not counted as breaking the policies nobody could evaluate on it.
    """
    name = "policy/" + check.name[len("policy:") :] if check.name.startswith("policy:") else check.name
    if not check.evaluated:
        return f"{name}/{check.code}"
    return name if check.name.startswith("policy:") else f"{name}/{check.code}"


def row_of_result(result: VerificationResult, now: datetime | None) -> ReportRow:
    """The row for a checked receipt; *now* is the instant the run verified against (for the timestamp)."""
    timestamp = None
    if now is not None and result.age_hours is not None:
        # The verifier reports the age only; with the pinned instant it gives the timestamp back exactly.
        moment = now - timedelta(microseconds=round(result.age_hours * 3_600_000_000))
        timestamp = format_rfc3339(moment)
    return ReportRow(
        source=result.source,
        verdict=VALID if result.valid else INVALID,
        chain_of_trust=result.chain_of_trust,
        signer=result.signer,
        key_id=result.key_id,
        timestamp=timestamp,
        failed=result.failed_checks,
    )


def row_of_error(source: str, code: str, message: str) -> ReportRow:
    """The row for a receipt that could not be checked (exit 2)."""
    return ReportRow(source, ERROR, "untrusted", failed=(Check("input", False, code, message),))


def key_events(store: TrustStore) -> list[KeyEvent]:
    """The dates the timeline marks: windows, revocations, delegations, from a trust store."""
    events: list[KeyEvent] = []
    for entry in store.keys:
        key_id = entry.public_key.key_id
        if entry.not_before is not None:
            events.append(KeyEvent(key_id, "not-before", entry.not_before, "valid from"))
        if entry.not_after is not None:
            events.append(KeyEvent(key_id, "not-after", entry.not_after, "valid until"))
        if entry.revoked_at is not None:
            events.append(KeyEvent(key_id, "revoked", entry.revoked_at, entry.revocation_reason or "revoked"))
    for revocation in store.revocations:
        events.append(
            KeyEvent(revocation.public_key.key_id, "revoked", revocation.revoked_at, revocation.reason or "revoked")
        )
    from attestkit.core.trust.graph import successors

    for old, new in successors(store):  # what `keys rotate` leaves: marked on the old key's lane
        assert new.not_before is not None
        detail = f"rotated to {new.public_key.key_id} (same identity)"
        events.append(KeyEvent(old.public_key.key_id, "rotation", new.not_before, detail))
    for statement in store.delegations:
        from attestkit.core.crypto.keys import key_id_of

        delegate = key_id_of(statement.delegate)
        by = f"by {statement.delegator.key_id}"
        if statement.not_before is not None:
            events.append(KeyEvent(delegate, "delegated", statement.not_before, by))
        if statement.not_after is not None:
            events.append(KeyEvent(delegate, "delegation-ends", statement.not_after, by))
    return sorted(events, key=lambda e: (e.at, e.key_id, e.kind))


def key_identities(store: TrustStore) -> dict[str, str]:
    """Key id -> identity for the keys a trust store names an identity for."""
    return {e.public_key.key_id: e.identity for e in store.keys if e.identity is not None}


def shown(text: str | None) -> str:
    """An untrusted value as a person may see it: invisible and control characters made visible."""
    return "" if text is None else escape_text(text)


def html_text(text: str | None) -> str:
    """An untrusted value as HTML text or attribute content (escaped, control characters visible)."""
    return html.escape(shown(text), quote=True)


def script_json(value: object) -> str:
    """JSON that is safe inside a ``<script type="application/json">`` element.

    ``<``, ``>`` and ``&`` become ``\\u003c``/``\\u003e``/``\\u0026``, so no string can end the
    element or open a comment; the JSON means the same.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def summary_counts(rows: Sequence[ReportRow]) -> tuple[Counter[str], Counter[str]]:
    """(receipts per verdict, receipts per failure code)."""
    verdicts: Counter[str] = Counter(row.verdict for row in rows)
    codes: Counter[str] = Counter(code for row in rows for code in row.failure_codes)
    return verdicts, codes


_VERDICT_INDEX = {VALID: 0, INVALID: 1, ERROR: 2}


def _data(rows: Sequence[ReportRow], context: ReportContext) -> dict[str, object]:
    """The receipts and timeline data, compact: one array per row, checks as [name, code, message]."""
    encoded = [
        [
            shown(row.source),
            _VERDICT_INDEX[row.verdict],
            shown(row.chain_of_trust),
            shown(row.signer),
            shown(row.key_id),
            shown(row.timestamp),
            [[shown(c.name), shown(c.code), shown(c.message), shown(failure_code(c))] for c in row.failed],
        ]
        for row in rows
    ]
    events = [[shown(e.key_id), shown(e.kind), format_rfc3339(e.at), shown(e.detail)] for e in context.key_events]
    identities = {shown(k): shown(v) for k, v in context.key_identities.items()}
    return {"rows": encoded, "events": events, "identities": identities}


def _summary_html(rows: Sequence[ReportRow]) -> str:
    verdicts, codes = summary_counts(rows)
    cells = "".join(
        f'<div class="count {name}"><span class="n" id="count-{name}">{verdicts.get(name, 0)}</span> {label}</div>'
        for name, label in ((VALID, "valid"), (INVALID, "invalid"), (ERROR, "could not be checked"))
    )
    lines = [
        f'<div class="counts"><div class="count total"><span class="n" id="count-total">{len(rows)}</span> receipts</div>{cells}</div>'
    ]
    if codes:
        lines.append(
            '<table class="codes" id="codes"><thead><tr><th>failure code</th><th>receipts</th></tr></thead><tbody>'
        )
        for code, number in sorted(codes.items(), key=lambda item: (-item[1], item[0])):
            attr = html_text(code)
            lines.append(
                f'<tr><td><button type="button" class="code" data-code="{attr}">{attr}</button></td>'
                f'<td class="num">{number}</td></tr>'
            )
        lines.append("</tbody></table>")
    else:
        lines.append('<p id="codes-none">No failed checks.</p>')
    return "\n".join(lines)


def _provenance_html(context: ReportContext) -> str:
    import shlex

    command = shlex.join(context.command) if context.command else "(not recorded)"
    lines = [f'<pre class="command" id="command">{html_text(command)}</pre>']
    if context.generated_at is not None:
        lines.append(f"<p>Verified as of <time>{html_text(format_rfc3339(context.generated_at))}</time>.</p>")
    if context.material:
        lines.append(
            '<table class="material" id="material"><thead><tr><th>role</th><th>input</th><th>digest</th></tr></thead><tbody>'
        )
        for item in context.material:
            lines.append(
                f"<tr><td>{html_text(item.role)}</td><td>{html_text(item.name)}</td>"
                f'<td class="digest">{html_text(item.digest or "-")}</td></tr>'
            )
        lines.append("</tbody></table>")
    else:
        lines.append("<p>No trust material or policy files.</p>")
    return "\n".join(lines)


def _script_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


def render_html(rows: Iterable[ReportRow], context: ReportContext) -> str:
    """The whole report: a self-contained HTML document (UTF-8)."""
    rows = list(rows)
    script = _SCRIPT
    csp = f"default-src 'none'; style-src 'unsafe-inline'; script-src '{_script_hash(script)}'; base-uri 'none'; form-action 'none'"
    title = html_text(context.title)
    return _PAGE.format(
        csp=html.escape(csp, quote=False),
        title=title,
        style=_STYLE,
        summary=_summary_html(rows),
        provenance=_provenance_html(context),
        data=script_json(_data(rows, context)),
        script=script,
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} report</title>
<style>{style}</style>
</head>
<body>
<header><h1>{title}: audit report</h1></header>
<section id="summary"><h2>Summary</h2>
{summary}
</section>
<section id="receipts"><h2>Receipts</h2>
<noscript><p>The receipts table and the timeline need JavaScript; the summary above does not.</p></noscript>
<div class="filters">
<label>Search <input type="search" id="filter-text" placeholder="source, signer, key id, message..."></label>
<label>Verdict <select id="filter-verdict"><option value="">all</option><option value="0">valid</option><option value="1">invalid</option><option value="2">could not be checked</option></select></label>
<label>Failure code <select id="filter-code"><option value="">all</option></select></label>
<span class="shown"><span id="shown-count">0</span> of <span id="row-count">0</span> shown</span>
</div>
<div class="table-head"><table class="receipts"><colgroup><col class="c-source"><col class="c-verdict"><col class="c-signer"><col class="c-key"><col class="c-time"><col class="c-failed"></colgroup>
<thead><tr><th data-col="0" aria-sort="none">source</th><th data-col="1" aria-sort="none">verdict</th><th data-col="3" aria-sort="none">signer</th><th data-col="4" aria-sort="none">key id</th><th data-col="5" aria-sort="none">timestamp</th><th data-col="6" aria-sort="none">failed checks</th></tr></thead></table></div>
<div class="viewport" id="viewport"><div class="spacer" id="spacer"><table class="receipts" id="rows"><colgroup><col class="c-source"><col class="c-verdict"><col class="c-signer"><col class="c-key"><col class="c-time"><col class="c-failed"></colgroup><tbody id="row-body"></tbody></table></div></div>
<div class="detail" id="detail"><p>Select a receipt to see all its checks.</p></div>
</section>
<section id="timeline-section"><h2>Timeline by signing key</h2>
<p class="legend"><span class="sw ok"></span> valid <span class="sw bad"></span> invalid <span class="mk rev"></span> revoked <span class="mk rot"></span> rotated <span class="mk win"></span> window start/end <span class="mk del"></span> delegation</p>
<div id="timeline"></div>
</section>
<section id="provenance"><h2>Provenance</h2>
{provenance}
</section>
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
:root{--ok:#1a7f37;--bad:#cf222e;--err:#9a6700;--line:#d0d7de;--muted:#57606a;font-family:system-ui,sans-serif;font-size:14px;color:#1f2328}
body{margin:0 auto;max-width:1400px;padding:0 16px 32px}
h1{font-size:20px}h2{font-size:16px;border-bottom:1px solid var(--line);padding-bottom:4px}
.counts{display:flex;gap:12px;flex-wrap:wrap}.count{border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.count .n{font-size:20px;font-weight:600}.count.valid .n{color:var(--ok)}.count.invalid .n{color:var(--bad)}.count.error .n{color:var(--err)}
table{border-collapse:collapse}td,th{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
.codes,.material{margin-top:12px}.num{text-align:right}button.code{font:inherit;font-family:monospace;background:none;border:0;color:#0969da;cursor:pointer;padding:0;text-align:left;word-break:break-all}
.filters{display:flex;gap:16px;align-items:center;flex-wrap:wrap;margin-bottom:8px}.filters input{width:22em}
.receipts{table-layout:fixed;width:100%}.receipts td,.receipts th{white-space:nowrap;overflow:hidden;text-overflow:ellipsis;height:20px;line-height:20px}
.receipts th{cursor:pointer;user-select:none;background:#f6f8fa}.receipts th[aria-sort=ascending]::after{content:" \\25B2"}.receipts th[aria-sort=descending]::after{content:" \\25BC"}
.c-source{width:20%}.c-verdict{width:7%}.c-signer{width:14%}.c-key{width:11%}.c-time{width:16%}.c-failed{width:32%}
.viewport{height:480px;overflow-y:auto;border:1px solid var(--line);position:relative}.spacer{position:relative}
#rows{position:absolute;left:0;top:0}#rows tr{cursor:pointer}#rows tr:hover{background:#f6f8fa}#rows tr.sel{background:#ddf4ff}
.v0{color:var(--ok);font-weight:600}.v1{color:var(--bad);font-weight:600}.v2{color:var(--err);font-weight:600}
.detail{border:1px solid var(--line);border-top:0;padding:8px;min-height:40px;overflow-wrap:anywhere}.detail ul{margin:4px 0;padding-left:20px}
.mono,.digest,.command{font-family:monospace}.command{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:8px}
.digest{overflow-wrap:anywhere}.material td{max-width:60em;overflow-wrap:anywhere}
.legend .sw,.legend .mk{display:inline-block;width:12px;height:12px;margin:0 2px 0 10px;vertical-align:middle}
.sw.ok{background:var(--ok)}.sw.bad{background:var(--bad)}.mk{width:3px!important}.mk.rev{background:var(--bad)}.mk.win{background:#0969da}.mk.del{background:#8250df}.mk.rot{background:#bc4c00}
#timeline svg{width:100%;height:auto;display:block}#timeline text{font-size:11px;font-family:monospace;fill:#1f2328}
"""

_SCRIPT = r"""
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var rows = data.rows, ids = data.identities || {};
  var VERDICTS = ["valid", "invalid", "could not be checked"];
  var ROW_H = 27, OVERSCAN = 10;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function failedText(r) {
    return r[6].map(function (c) { return c[0] + ": " + c[2]; }).join("; ");
  }
  var haystack = null;
  function searchText(i) {
    if (haystack === null) {
      haystack = rows.map(function (r) {
        return [r[0], VERDICTS[r[1]], r[2], r[3], r[4], r[5], r[6].map(function (c) { return c.join(" "); }).join(" ")].join("\u0001").toLowerCase();
      });
    }
    return haystack[i];
  }
  var order = rows.map(function (_, i) { return i; });
  var visible = order.slice();
  var sortCol = null, sortDir = 1, selected = -1;
  var textFilter = document.getElementById("filter-text");
  var verdictFilter = document.getElementById("filter-verdict");
  var codeFilter = document.getElementById("filter-code");
  var viewport = document.getElementById("viewport"), spacer = document.getElementById("spacer");
  var body = document.getElementById("row-body"), table = document.getElementById("rows");
  var codes = {};
  rows.forEach(function (r) { r[6].forEach(function (c) { codes[c[3]] = (codes[c[3]] || 0) + 1; }); });
  Object.keys(codes).sort().forEach(function (code) {
    var option = el("option", null, code);
    option.value = code;
    codeFilter.appendChild(option);
  });
  function sortKey(r, col) {
    if (col === 6) { return failedText(r); }
    if (col === 1) { return r[1]; }
    return r[col] || "";
  }
  function applySort() {
    if (sortCol === null) { order = rows.map(function (_, i) { return i; }); return; }
    var col = sortCol, dir = sortDir;
    var keys = rows.map(function (r) { return sortKey(r, col); });
    order = rows.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      var x = keys[a], y = keys[b];
      if (x < y) { return -dir; }
      if (x > y) { return dir; }
      return a - b;
    });
  }
  function applyFilter() {
    var text = textFilter.value.toLowerCase(), verdict = verdictFilter.value, code = codeFilter.value;
    visible = order.filter(function (i) {
      var r = rows[i];
      if (verdict !== "" && String(r[1]) !== verdict) { return false; }
      if (code !== "" && !r[6].some(function (c) { return c[3] === code; })) { return false; }
      return text === "" || searchText(i).indexOf(text) !== -1;
    });
    document.getElementById("shown-count").textContent = String(visible.length);
    spacer.style.height = (visible.length * ROW_H) + "px";
    viewport.style.height = Math.min(480, Math.max(visible.length, 4) * ROW_H + 2) + "px";
    draw(true);
  }
  var drawnFirst = -1, drawnLast = -1;
  function draw(force) {
    var first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - OVERSCAN);
    var last = Math.min(visible.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW_H) + OVERSCAN);
    if (!force && first === drawnFirst && last === drawnLast) { return; }
    drawnFirst = first; drawnLast = last;
    var fragment = document.createDocumentFragment();
    for (var k = first; k < last; k++) {
      var i = visible[k], r = rows[i];
      var tr = el("tr");
      tr.dataset.index = String(i);
      if (i === selected) { tr.className = "sel"; }
      var identity = r[3] || (r[4] && ids[r[4]]) || "";
      var cells = [[r[0], "mono"], [VERDICTS[r[1]] + (r[1] === 0 && r[2] !== "verified" ? " (" + r[2] + ")" : ""), "v" + r[1]],
                   [identity, null], [r[4], "mono"], [r[5], "mono"], [failedText(r), null]];
      cells.forEach(function (cell) {
        var td = el("td", cell[1], cell[0]);
        td.title = cell[0];
        tr.appendChild(td);
      });
      fragment.appendChild(tr);
    }
    body.replaceChildren(fragment);
    table.style.top = (first * ROW_H) + "px";
  }
  function showDetail(i) {
    var r = rows[i], box = document.getElementById("detail");
    var parts = [el("p", "mono", r[0]), el("p", null, "verdict: " + VERDICTS[r[1]] + "; chain of trust: " + r[2] +
                 "; signer: " + (r[3] || "-") + "; key id: " + (r[4] || "-") + "; timestamp: " + (r[5] || "-"))];
    if (r[6].length) {
      var list = el("ul");
      r[6].forEach(function (c) { list.appendChild(el("li", null, c[0] + " (" + c[1] + "): " + c[2])); });
      parts.push(list);
    } else {
      parts.push(el("p", null, "Every check passed."));
    }
    box.replaceChildren.apply(box, parts);
  }
  body.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (!tr) { return; }
    selected = Number(tr.dataset.index);
    showDetail(selected);
    draw(true);
  });
  viewport.addEventListener("scroll", function () { draw(false); });
  var pending = null;
  textFilter.addEventListener("input", function () {
    if (pending !== null) { clearTimeout(pending); }
    pending = setTimeout(function () { pending = null; applyFilter(); }, rows.length > 20000 ? 200 : 0);
  });
  verdictFilter.addEventListener("change", applyFilter);
  codeFilter.addEventListener("change", applyFilter);
  document.querySelectorAll(".table-head th").forEach(function (th) {
    th.tabIndex = 0;  // sortable from the keyboard too
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); th.click(); }
    });
    th.addEventListener("click", function () {
      var col = Number(th.dataset.col);
      sortDir = sortCol === col ? -sortDir : 1;
      sortCol = col;
      document.querySelectorAll(".table-head th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", sortDir === 1 ? "ascending" : "descending");
      applySort();
      applyFilter();
    });
  });
  document.querySelectorAll("button.code").forEach(function (button) {
    button.addEventListener("click", function () {
      codeFilter.value = button.dataset.code;
      verdictFilter.value = "";
      applyFilter();
      document.getElementById("receipts").scrollIntoView();
    });
  });
  document.getElementById("row-count").textContent = String(rows.length);

  // Timeline: one lane per signing key, receipts counted per time bucket, keyring dates marked.
  function timeline() {
    var box = document.getElementById("timeline");
    var NS = "http://www.w3.org/2000/svg";
    var lanes = {}, laneOrder = [], times = [];
    rows.forEach(function (r) {
      if (!r[5]) { return; }
      var t = Date.parse(r[5]);
      if (isNaN(t)) { return; }
      var key = r[4] || "(no key)";
      if (!(key in lanes)) { lanes[key] = { times: [], bad: [] }; laneOrder.push(key); }
      lanes[key].times.push(t); lanes[key].bad.push(r[1] !== 0);
      times.push(t);
    });
    var events = (data.events || []).filter(function (e) { return e[0] in lanes; });
    events.forEach(function (e) { times.push(Date.parse(e[2])); });
    if (!laneOrder.length) { box.appendChild(el("p", null, "No receipt with a readable timestamp.")); return; }
    var lo = Infinity, hi = -Infinity;
    times.forEach(function (t) { if (t < lo) { lo = t; } if (t > hi) { hi = t; } });
    if (hi === lo) { hi = lo + 3600000; lo -= 3600000; }
    var pad = (hi - lo) * 0.02; lo -= pad; hi += pad;
    var LABEL = 260, WIDTH = 1100, LANE = 34, BUCKETS = 160, plot = WIDTH - LABEL - 10;
    var height = laneOrder.length * LANE + 30;
    var svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 " + WIDTH + " " + height);
    svg.setAttribute("role", "img");
    function node(tag, attrs, text) {
      var n = document.createElementNS(NS, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
      if (text !== undefined) { var t = document.createElementNS(NS, "title"); t.textContent = text; n.appendChild(t); }
      return n;
    }
    function x(t) { return LABEL + (t - lo) / (hi - lo) * plot; }
    laneOrder.forEach(function (key, index) {
      var y = index * LANE + 4, lane = lanes[key], ok = new Array(BUCKETS).fill(0), bad = new Array(BUCKETS).fill(0), max = 1;
      lane.times.forEach(function (t, j) {
        var b = Math.min(BUCKETS - 1, Math.floor((t - lo) / (hi - lo) * BUCKETS));
        if (lane.bad[j]) { bad[b]++; } else { ok[b]++; }
      });
      for (var b = 0; b < BUCKETS; b++) { max = Math.max(max, ok[b] + bad[b]); }
      var g = node("g", { "class": "lane", "data-key": key });
      var label = node("text", { x: 0, y: y + 18 });
      label.textContent = key + (ids[key] ? "  " + ids[key] : "");
      g.appendChild(label);
      g.appendChild(node("line", { x1: LABEL, x2: LABEL + plot, y1: y + LANE - 6, y2: y + LANE - 6, stroke: "#d0d7de" }));
      var bw = plot / BUCKETS;
      for (b = 0; b < BUCKETS; b++) {
        var total = ok[b] + bad[b];
        if (!total) { continue; }
        var h = Math.max(2, (LANE - 10) * total / max), okH = h * ok[b] / total, from = new Date(lo + (hi - lo) * b / BUCKETS).toISOString();
        var tip = total + " receipts (" + bad[b] + " not valid) from " + from;
        if (ok[b]) { g.appendChild(node("rect", { x: LABEL + b * bw, y: y + LANE - 6 - okH, width: Math.max(1, bw - 1), height: okH, fill: "#1a7f37" }, tip)); }
        if (bad[b]) { g.appendChild(node("rect", { x: LABEL + b * bw, y: y + LANE - 6 - h, width: Math.max(1, bw - 1), height: h - okH, fill: "#cf222e" }, tip)); }
      }
      events.filter(function (e) { return e[0] === key; }).forEach(function (e) {
        var colour = e[1] === "revoked" ? "#cf222e" : e[1] === "rotation" ? "#bc4c00" :
          (e[1] === "delegated" || e[1] === "delegation-ends") ? "#8250df" : "#0969da";
        var ex = x(Date.parse(e[2]));
        g.appendChild(node("rect", { "class": "event " + e[1], x: ex - 1.5, y: y, width: 3, height: LANE - 4, fill: colour },
                           e[1] + " " + e[2] + (e[3] ? " (" + e[3] + ")" : "")));
      });
      svg.appendChild(g);
    });
    var axisY = laneOrder.length * LANE + 18;
    [lo, (lo + hi) / 2, hi].forEach(function (t, k) {
      var label = node("text", { x: k === 0 ? LABEL : k === 1 ? LABEL + plot / 2 - 70 : LABEL + plot - 140, y: axisY });
      label.textContent = new Date(t).toISOString().replace(".000Z", "Z");
      svg.appendChild(label);
    });
    box.appendChild(svg);
  }
  applyFilter();
  timeline();
  document.body.dataset.ready = "true";
})();
"""


__all__ = [
    "ERROR",
    "INVALID",
    "VALID",
    "KeyEvent",
    "Material",
    "ReportContext",
    "ReportRow",
    "failure_code",
    "html_text",
    "key_events",
    "key_identities",
    "render_html",
    "row_of_error",
    "row_of_result",
    "script_json",
    "summary_counts",
]
