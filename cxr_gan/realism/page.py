"""The reader study's page: one self-contained HTML file (images embedded as PNG data URIs, no
network, no server) that shows one image at a time and keeps the answers in the browser.

Keys: R (real) and G (generated) answer and go on; 1, 2, 3 set the confidence of the next answer
(1 unsure, 3 sure; 2 until changed); Backspace takes the last answer back. The answers live in
``localStorage`` under the session id, so a closed and reopened page goes on where it stopped;
at the end "Save answers (CSV)" downloads ``answers-SESSION.csv``
(``session,index,answer,confidence,seconds``). Nothing on the page tells whether an answer was
right.
"""

from __future__ import annotations

import html
import json

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Reader study __SESSION__: real or generated?</title>
<style>
body { font-family: sans-serif; background: #222; color: #eee; margin: 0; text-align: center; }
header { padding: 10px; font-size: 15px; }
#image { width: min(80vh, 90vw); height: min(80vh, 90vw); image-rendering: auto;
         background: #000; display: block; margin: 0 auto; }
button { font-size: 18px; margin: 8px; padding: 10px 26px; border-radius: 6px; border: 0; }
#real, #generated { background: #4a7; color: #fff; }
.confidence button { font-size: 15px; padding: 6px 14px; background: #555; color: #eee; }
.confidence button.chosen { background: #fc3; color: #000; }
#intro, #done { max-width: 720px; margin: 30px auto; text-align: left; line-height: 1.45; }
</style></head>
<body>
<header><span id="progress"></span></header>
<div id="intro">
<h2>Real or generated? (session __SESSION__)</h2>
<p>This page shows __TOTAL__ chest radiographs, one at a time. About half are real and half were
made by a generative model (__DESCRIPTION__). Every image, real or generated, was brought to the
same size and gray levels, so neither tells them apart. For each image press <b>R</b> (real) or
<b>G</b> (generated); press 1, 2 or 3 first to say how sure you are (1 unsure, 3 sure; 2 until
you change it). You will not be told which answers were right. Your answers stay in this
browser if you close the page; at the end, save them as a CSV file and send it back.</p>
<button id="start">Start</button>
</div>
<div id="reading" hidden>
<img id="image" alt="radiograph to judge">
<div class="confidence">confidence:
<button data-level="1">1 unsure</button><button data-level="2">2</button><button data-level="3">3 sure</button>
</div>
<button id="real">Real (R)</button><button id="generated">Generated (G)</button>
</div>
<div id="done" hidden>
<h2>Done: __TOTAL__ of __TOTAL__ answered.</h2>
<p>Save your answers and send the file to the study's organiser. Thank you.</p>
<button id="save">Save answers (CSV)</button>
</div>
<script>
const SESSION = "__SESSION__";
const IMAGES = __IMAGES__;
const STORE = "cxr_gan_reader_" + SESSION;
let answers = JSON.parse(localStorage.getItem(STORE) || "[]");
let confidence = 2, shownAt = 0;
const $ = (id) => document.getElementById(id);
function keep() { localStorage.setItem(STORE, JSON.stringify(answers)); }
function chooseConfidence(level) {
  confidence = level;
  document.querySelectorAll(".confidence button").forEach(
    (b) => b.classList.toggle("chosen", Number(b.dataset.level) === level));
}
function show() {
  $("intro").hidden = true;
  const finished = answers.length >= IMAGES.length;
  $("reading").hidden = finished;
  $("done").hidden = !finished;
  $("progress").textContent = finished ? IMAGES.length + " of " + IMAGES.length
    : (answers.length + 1) + " of " + IMAGES.length;
  if (!finished) { $("image").src = IMAGES[answers.length]; shownAt = performance.now(); }
}
function answer(kind) {
  if (answers.length >= IMAGES.length || $("reading").hidden) return;
  answers.push({index: answers.length, answer: kind, confidence: confidence,
                seconds: ((performance.now() - shownAt) / 1000).toFixed(2)});
  keep(); chooseConfidence(2); show();
}
function csv() {
  const rows = ["session,index,answer,confidence,seconds"];
  answers.forEach((a) => rows.push([SESSION, a.index, a.answer, a.confidence, a.seconds].join(",")));
  return rows.join("\\n") + "\\n";
}
function save() {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv()], {type: "text/csv"}));
  link.download = "answers-" + SESSION + ".csv";
  document.body.appendChild(link); link.click(); link.remove();
}
$("start").onclick = show;
$("real").onclick = () => answer("real");
$("generated").onclick = () => answer("generated");
$("save").onclick = save;
document.querySelectorAll(".confidence button").forEach(
  (b) => b.onclick = () => chooseConfidence(Number(b.dataset.level)));
document.addEventListener("keydown", (event) => {
  const key = event.key.toLowerCase();
  if ($("intro").hidden === false && (key === "enter" || key === " ")) { show(); return; }
  if (key === "r") answer("real");
  else if (key === "g") answer("generated");
  else if (key === "1" || key === "2" || key === "3") chooseConfidence(Number(key));
  else if (key === "backspace" && answers.length && answers.length < IMAGES.length) {
    answers.pop(); keep(); show();
  }
});
chooseConfidence(2);
if (answers.length) show();  // Reopened: straight back to the next unanswered image.
</script>
</body></html>
"""


def render_page(session: str, data_uris: list[str], description: str) -> str:
    """The page's HTML for ``data_uris`` in the order they are shown."""
    return (TEMPLATE.replace("__SESSION__", html.escape(session))
            .replace("__TOTAL__", str(len(data_uris)))
            .replace("__DESCRIPTION__", html.escape(description))
            .replace("__IMAGES__", json.dumps(data_uris)))
