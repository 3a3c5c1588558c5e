"""The trainer's result sheet: one self-contained HTML page and the same figures as JSON."""

from __future__ import annotations

import html
import json
from pathlib import Path

from kiosk.training.scoring import ScenarioResult, TrainingResult

_VERDICT = {"right": "Right", "wrong": "Wrong", "missed": "Not handled"}
_STYLE = """
body{font-family:sans-serif;margin:2em;color:#222}
.banner{background:#c62828;color:#fff;font-weight:bold;padding:.4em 1em;display:inline-block}
table{border-collapse:collapse;margin-top:1em;width:100%}
th,td{border:1px solid #bbb;padding:.4em .6em;text-align:left;vertical-align:top}
th{background:#eee}.right{color:#1b5e20}.wrong{color:#b71c1c}.missed{color:#e65100}
td.n{text-align:right}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _row(s: ScenarioResult) -> str:
    clear = "—" if s.time_to_clear_s is None else f"{s.time_to_clear_s:.1f} s"
    notes = [*(f"wrong: {w}" for w in s.wrong_actions),
             *(f"unnecessary: {u}" for u in s.unnecessary_actions), *s.remarks]  # fmt: skip
    return (
        f"<tr><td>{_e(s.title)}</td><td class='{_e(s.verdict)}'>{_VERDICT[s.verdict]}</td>"
        f"<td class='n'>{s.score}</td><td class='n'>{clear} (target {s.target_s:.0f} s)</td>"
        f"<td>{_e(', '.join(s.actions) or 'none')}</td>"
        f"<td>{'<br>'.join(_e(n) for n in notes) or '—'}</td><td>{_e(s.guidance)}</td></tr>"
    )


def render_html(result: TrainingResult) -> str:
    right = sum(s.verdict == "right" for s in result.scenarios)
    rows = "\n".join(_row(s) for s in result.scenarios)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Training result: {_e(result.trainee)}</title>
<style>{_STYLE}</style></head><body>
<div class="banner">TRAINING — not a sale, not a loss-prevention record</div>
<h1>Attendant training result</h1>
<p>Trainee <b>{_e(result.trainee)}</b> · lane {_e(result.lane)} · started {_e(result.started)}</p>
<p>Score <b>{result.total} / {result.out_of}</b> · {right} of {len(result.scenarios)} scenarios
handled right</p>
<table><tr><th>Scenario</th><th>Verdict</th><th>Score</th><th>Time to clear</th>
<th>Trainee's actions</th><th>Mistakes and remarks</th><th>Right handling</th></tr>
{rows}
</table>
<p>Scoring: 60 points for the right action, up to 40 for clearing within the target time (none
at four times it), less 15 per wrong and 5 per unnecessary action.</p>
</body></html>
"""


def write_sheet(result: TrainingResult, out_dir: str | Path) -> tuple[Path, Path]:
    """``<trainee>-training.html`` and ``.json`` in ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.trainee) or "trainee"
    page, data = out / f"{stem}-training.html", out / f"{stem}-training.json"
    page.write_text(render_html(result), encoding="utf-8")
    data.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")  # fmt: skip
    return page, data
