"""The interactive trace page: one self-contained, offline HTML file where sliders pick a learning rate, a second
knob (momentum μ, β₁, α) and a step, selects pick the function and the optimizer, and a canvas draws that path on
the function's contour plot.

Every path was traced in Python (:mod:`descentlab.experiments.trace_page`, the optimizers' own rules) and is
embedded as JSON: the script only looks a path up and draws it; no update rule exists in JavaScript. The contour
plot of each function is the house-style picture of :func:`descentlab.report.trace.draw_landscape`, embedded as a
PNG; the paths are stored in that image's pixel coordinates (tenths of a pixel, as integers), cut where a
diverged path leaves the picture (:func:`descentlab.report.trace.drawn_xy`), so the script needs no geometry.

The page reads its state from the URL's hash, ``paths.html#function=rosenbrock&optimizer=adam&lr=7&knob=2&step=
150`` (indices into the sliders), and moves its controls there through the same ``input`` events a learner's
hand makes; after each drawing it records what it drew in ``data-*`` attributes of the canvas (checked by the
tests in a headless browser).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from descentlab.files import write_atomic
from descentlab.report import style
from descentlab.report.html import _e, check_writable
from descentlab.report.trace import draw_landscape, drawn_xy, mark_start
from descentlab.tasks.functions import TestFunction
from descentlab.trajectories import Traced

FAR = 50_000  # tenths of a pixel: points farther off the picture are held there (only their direction shows)


def landscape(function: TestFunction, start: Traced, dpi: int = 90) -> tuple[bytes, Axes, np.ndarray]:
    """The function's contour plot without paths (the start and minima marked) as PNG bytes, its axes (for
    :func:`drawn_xy`) and the affine map data → image pixels as ``[[sx, ox], [sy, oy]]``."""
    fig = style.figure(6.6, 5.4 if function.bounds[1][1] - function.bounds[1][0] > 5 else 3.6, dpi)
    ax = fig.add_subplot()
    draw_landscape(ax, function)
    mark_start(ax, function, [start])
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    height = canvas.get_width_height()[1]
    (x0, x1), (y0, y1) = function.bounds
    (px0, py0), (px1, py1) = ax.transData.transform([(x0, y0), (x1, y1)])
    sx, sy = (px1 - px0) / (x1 - x0), -(py1 - py0) / (y1 - y0)  # image rows grow downwards
    affine = np.array([[sx, px0 - sx * x0], [sy, (height - py0) - sy * y0]])
    buf = io.BytesIO()
    Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), ax, affine


def encode_path(ax: Axes, function: TestFunction, traced: Traced, affine: np.ndarray) -> dict[str, Any]:
    """One path for the page: ``xy`` its drawn points in tenths of an image pixel (flat ``x, y, x, y…``; point
    ``k`` is step ``k``, and a diverged path's last point is where it leaves the picture), ``f`` the value per
    step (3 significant digits), ``div`` the step of divergence (or ``null``) and ``why``."""
    x, y = drawn_xy(ax, function, traced)
    px = np.clip(np.round(10 * (affine[0, 0] * x + affine[0, 1])), -FAR, FAR).astype(int)
    py = np.clip(np.round(10 * (affine[1, 0] * y + affine[1, 1])), -FAR, FAR).astype(int)
    k = traced.diverged_at
    values = traced.values[: len(x) if k is None else k]
    why = None if k is None else ("left the plot" if traced.escaped_at == k else "a non-finite value")
    return {"xy": np.column_stack([px, py]).ravel().tolist(), "f": [float(f"{v:.3g}") for v in values],
            "div": k, "why": why}


def page_data(functions: tuple[TestFunction, ...], lrs: tuple[float, ...], knobs: dict[str, Any], steps: int,
              paths: dict[str, dict[str, list[list[Traced]]]]) -> dict[str, Any]:
    """The JSON the page embeds (see :func:`encode_path` for one path)."""
    out_functions = []
    for f in functions:
        by_opt = paths[f.name]
        first = next(iter(by_opt.values()))[0][0]
        png, ax, affine = landscape(f, first)
        out_functions.append({
            "name": f.name, "description": f.description,
            "image": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "paths": {name: [[encode_path(ax, f, t, affine) for t in row] for row in grid]
                      for name, grid in by_opt.items()},
        })
    optimizers = [{"name": name, "knob": None if knob is None else {"label": knob.label, "values": list(knob.values)}}
                  for name, knob in knobs.items()]
    return {"steps": steps, "lrs": list(lrs), "optimizers": optimizers, "functions": out_functions}


def render_page(data: dict[str, Any]) -> str:
    """The whole page: the data as JSON in a ``<script type="application/json">``, the drawing script inline."""
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    n_paths = sum(len(row) for f in data["functions"] for grid in f["paths"].values() for row in grid)
    return (_PAGE.replace("{{DATA}}", payload)
            .replace("{{ABOUT}}", _e(f"{len(data['functions'])} functions, {len(data['optimizers'])} optimizers, "
                                     f"{len(data['lrs'])} learning rates, {n_paths} paths of up to "
                                     f"{data['steps']} steps, traced in Python by descentlab's update rules")))


def write_page(data: dict[str, Any], path: str | Path) -> Path:
    """Write the page to ``path`` (UserError naming the path if it cannot be written)."""
    path = check_writable(path)
    write_atomic(path, render_page(data))
    return path


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>descentlab: optimizer paths</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.2em; color: #222; max-width: 1100px; }
h1 { font-size: 1.3em; margin: 0 0 0.3em; }
.about { color: #666; font-size: 0.85em; margin: 0 0 1em; }
.wrap { display: flex; gap: 1.5em; flex-wrap: wrap; align-items: flex-start; }
.controls { flex: 0 0 320px; }
.controls label { display: block; margin: 0.8em 0 0.2em; font-weight: 600; font-size: 0.9em; }
.controls input[type=range], .controls select { width: 100%; }
.value { font-weight: normal; color: #444; }
#readout { margin-top: 1.2em; font-size: 0.95em; min-height: 3em; }
#readout .diverged { color: #d62728; font-weight: 600; }
canvas { max-width: 100%; height: auto; border: 1px solid #ddd; }
</style></head>
<body>
<h1>How optimizers move: drag the sliders</h1>
<p class="about">{{ABOUT}}. Each path starts at the white disc; stars are the minima; &times; marks where a
diverging path leaves the picture.</p>
<div class="wrap">
<canvas id="plot"></canvas>
<div class="controls">
<label for="function">function</label><select id="function"></select>
<label for="optimizer">optimizer</label><select id="optimizer"></select>
<label for="lr">learning rate <span class="value" id="lr-value"></span></label>
<input type="range" id="lr" min="0" step="1">
<label for="knob" id="knob-label">knob</label>
<input type="range" id="knob" min="0" step="1">
<label for="step">step <span class="value" id="step-value"></span></label>
<input type="range" id="step" min="0" step="1">
<label><input type="checkbox" id="others" checked> show the other learning rates (grey)</label>
<div id="readout"></div>
<p class="about">Try: gradient descent on the narrow valley, raising the learning rate until it zig-zags and
diverges; momentum μ from 0 to 0.95 there; Adam with β₁ = 0 and 0.9 on Rosenbrock; the step slider to replay.</p>
</div></div>
<script type="application/json" id="paths-data">{{DATA}}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("paths-data").textContent);
const $ = (id) => document.getElementById(id);
const canvas = $("plot"), ctx = canvas.getContext("2d");
const images = DATA.functions.map((f) => { const im = new Image(); im.src = f.image; return im; });
let draws = 0;

function fmt(v) {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(2) : +v.toPrecision(3);
}
function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text; select.appendChild(o);
}

DATA.functions.forEach((f, i) => option($("function"), i, f.name + ": " + f.description));
DATA.optimizers.forEach((o, i) => option($("optimizer"), i, o.name));
$("lr").max = DATA.lrs.length - 1;
$("lr").value = Math.floor(DATA.lrs.length / 2);
$("step").max = DATA.steps;
$("step").value = DATA.steps;

function state() {
  const fi = +$("function").value, oi = +$("optimizer").value, opt = DATA.optimizers[oi];
  return {fi, oi, opt, f: DATA.functions[fi], lr: +$("lr").value, knob: opt.knob ? +$("knob").value : 0,
          step: +$("step").value};
}

function syncKnob() {
  const opt = DATA.optimizers[+$("optimizer").value];
  $("knob").disabled = !opt.knob;
  $("knob").style.visibility = opt.knob ? "visible" : "hidden";
  if (opt.knob) {
    $("knob").max = opt.knob.values.length - 1;
    if (+$("knob").value > opt.knob.values.length - 1) $("knob").value = opt.knob.values.length - 1;
    $("knob-label").innerHTML =
      opt.knob.label + ' <span class="value">' + opt.knob.values[+$("knob").value] + "</span>";
  } else {
    $("knob-label").textContent = opt.name + " has no momentum or β";
  }
}

function draw() {
  const s = state(), im = images[s.fi];
  if (!im.complete) { im.onload = draw; return; }
  syncKnob();
  const path = s.f.paths[s.opt.name][s.lr][s.knob];
  canvas.width = im.naturalWidth; canvas.height = im.naturalHeight;
  ctx.drawImage(im, 0, 0);
  const n = path.xy.length / 2, diverged = path.div !== null && s.step >= path.div;
  const shown = diverged ? n : Math.min(s.step + 1, path.div === null ? n : path.div);
  const X = (k) => path.xy[2 * k] / 10, Y = (k) => path.xy[2 * k + 1] / 10;
  ctx.save();
  if ($("others").checked) {  // the same knob at every other learning rate, up to the same step
    ctx.lineWidth = 1; ctx.strokeStyle = "rgba(0, 0, 0, 0.3)";
    s.f.paths[s.opt.name].forEach((row, i) => {
      if (i === s.lr) return;
      const p = row[s.knob], m = Math.min(s.step + 1, p.xy.length / 2);
      polyline(p.xy, m);
    });
  }
  ctx.lineWidth = 2.2; ctx.strokeStyle = "#e6194b"; ctx.lineJoin = "round";
  polyline(path.xy, shown);
  const last = shown - 1;
  if (diverged) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 5; crossAt(X(last), Y(last), 8);
    ctx.strokeStyle = "#e6194b"; ctx.lineWidth = 3; crossAt(X(last), Y(last), 8);
  } else {
    ctx.beginPath(); ctx.arc(X(last), Y(last), 5.5, 0, 2 * Math.PI);
    ctx.fillStyle = "#e6194b"; ctx.fill(); ctx.lineWidth = 1.2; ctx.strokeStyle = "#000"; ctx.stroke();
  }
  ctx.restore();
  $("lr-value").textContent = DATA.lrs[s.lr];
  $("step-value").textContent = s.step + " of " + DATA.steps;
  const readout = $("readout");
  if (diverged) {
    readout.innerHTML = '<span class="diverged">diverged at step ' + path.div + "</span> (" + path.why + ")";
  } else {
    const k = Math.min(s.step, path.f.length - 1);
    readout.textContent = "step " + k + ": f(x) = " + fmt(path.f[k]);
  }
  draws += 1;
  const box = canvas.getBoundingClientRect();
  Object.assign(canvas.dataset, {function: s.f.name, optimizer: s.opt.name, lr: DATA.lrs[s.lr],
    knob: s.opt.knob ? s.opt.knob.values[s.knob] : "", step: s.step, points: shown, diverged: diverged,
    last: X(last).toFixed(1) + "," + Y(last).toFixed(1), draws: draws, box: [box.left, box.top, box.width,
    box.height].map(Math.round).join(",")});
}

function polyline(xy, m) {  // the first m points of a path (tenths of a pixel)
  ctx.beginPath();
  for (let k = 0; k < m; k++) {
    if (k === 0) ctx.moveTo(xy[0] / 10, xy[1] / 10); else ctx.lineTo(xy[2 * k] / 10, xy[2 * k + 1] / 10);
  }
  ctx.stroke();
}

function crossAt(x, y, r) {
  ctx.beginPath();
  ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x - r, y + r); ctx.lineTo(x + r, y - r);
  ctx.stroke();
}

for (const id of ["function", "optimizer", "lr", "knob", "step", "others"]) {
  $(id).addEventListener("input", draw);
  $(id).addEventListener("change", draw);
}

function applyHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const pick = {function: (v) => DATA.functions.findIndex((f) => f.name === v),
                optimizer: (v) => DATA.optimizers.findIndex((o) => o.name === v)};
  for (const id of ["function", "optimizer", "lr", "knob", "step"]) {
    if (!params.has(id)) continue;
    const value = pick[id] ? pick[id](params.get(id)) : +params.get(id);
    if (value < 0 || Number.isNaN(value)) continue;
    if (id === "optimizer") { $(id).value = value; syncKnob(); }
    $(id).value = value;
    $(id).dispatchEvent(new Event("input"));  // as a learner's hand would move it
  }
}
window.addEventListener("hashchange", applyHash);
draw();
applyHash();
</script>
</body></html>
"""
