"""Headless Chromium for the report tests: screenshots, and label boxes measured in the page.

:func:`measure` loads a copy of a page with a probe script appended: after the page's own
script has run, it opens every collapsed part (hidden value panes, ``<details>``), collects the
boxes of every visible SVG text and figure, and writes what overlaps into the DOM, which
``--dump-dom`` prints. Nothing here knows the report's numbers; it only measures.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")

PROBE = r"""
<script>
window.addEventListener('load', function(){ setTimeout(function(){
  var t0 = performance.now();
  var ready = performance.getEntriesByType('navigation')[0];
  var before = {loaded_ms: ready ? ready.loadEventEnd : t0,
                height_closed: document.documentElement.scrollHeight};
  document.querySelectorAll('[hidden]').forEach(function(e){ e.hidden = false; });
  document.querySelectorAll('details').forEach(function(d){ d.open = true; });
  var svgs = Array.prototype.slice.call(document.querySelectorAll('svg'));
  var box = function(e){ var r = e.getBoundingClientRect();
    return {x0: r.left + scrollX, y0: r.top + scrollY, x1: r.right + scrollX,
            y1: r.bottom + scrollY}; };
  var hit = function(a, b, tol){ return a.x0 < b.x1 - tol && b.x0 < a.x1 - tol &&
                                        a.y0 < b.y1 - tol && b.y0 < a.y1 - tol; };
  var out = {texts: 0, svgs: svgs.length, overlaps: [], outside: [], figure_overlaps: []};
  var figs = [];
  svgs.forEach(function(s, k){
    var sb = box(s); figs.push(sb);
    var texts = Array.prototype.slice.call(s.querySelectorAll('text'))
      .filter(function(t){ return t.textContent.trim() !== ''; });
    var boxes = texts.map(box);
    out.texts += texts.length;
    for (var i = 0; i < texts.length; i++) {
      var b = boxes[i];
      if (b.x0 < sb.x0 - 1 || b.x1 > sb.x1 + 1 || b.y0 < sb.y0 - 1 || b.y1 > sb.y1 + 1)
        out.outside.push([k, texts[i].textContent]);
      for (var j = i + 1; j < texts.length; j++)
        if (hit(b, boxes[j], 1)) out.overlaps.push([k, texts[i].textContent,
                                                    texts[j].textContent]);
    }
  });
  for (var i = 0; i < figs.length; i++) for (var j = i + 1; j < figs.length; j++)
    if (hit(figs[i], figs[j], 1)) out.figure_overlaps.push([i, j]);
  out.loaded_ms = before.loaded_ms;
  out.height_closed = before.height_closed;
  out.height_open = document.documentElement.scrollHeight;
  out.width = document.documentElement.scrollWidth;
  out.measure_ms = performance.now() - t0;
  out.wide = [];
  document.querySelectorAll('body *').forEach(function(e){
    if (e.closest('.scroll') || e.closest('pre')) return;
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > document.documentElement.clientWidth + 1 && out.wide.length < 20)
      out.wide.push(e.tagName + '.' + (e.getAttribute('class') || '') + '#' + (e.id || '') +
                    ' ' + Math.round(r.right));
  });
  out.pairs_cells = document.querySelectorAll('#pairs-matrix td').length;
  out.errors = window.__errors || [];
  var pre = document.createElement('pre'); pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 0); });
window.__errors = [];
window.addEventListener('error', function(e){ window.__errors.push(String(e.message)); });
</script>
"""


def available() -> bool:
    return CHROMIUM.is_file()


def _run(args: list[str], profile: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def measure(index: Path, tmp: Path, width: int = 1280) -> dict:
    """Load ``index`` (a copy with the probe) and return the probe's measurements, plus
    ``wall_s``: seconds Chromium took to start, load, run the page and print the DOM."""
    page = index.read_text(encoding="utf-8")
    probe = index.with_name("probe_" + index.name)
    probe.write_text(page.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    start = time.perf_counter()
    result = _run(["--dump-dom", "--virtual-time-budget=10000", f"--window-size={width},1000",
                   probe.resolve().as_uri()], tmp / "chromium-measure")
    wall = time.perf_counter() - start
    probe.unlink()
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    if not found:
        raise AssertionError(f"the probe wrote nothing; stderr: {result.stderr[-2000:]}")
    import html

    out = json.loads(html.unescape(found.group(1)))
    out["wall_s"] = wall
    return out


def screenshot(index: Path, png: Path, tmp: Path, size: tuple[int, int] = (1280, 2000)
               ) -> subprocess.CompletedProcess:
    """A screenshot of the top ``size`` (width, height) px of the page."""
    return _run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
                 "--virtual-time-budget=5000", index.resolve().as_uri()],
                tmp / "chromium-shot")
