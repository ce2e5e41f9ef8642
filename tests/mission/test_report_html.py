"""report.html: self-contained, every foreign text escaped, a bounded size at 1,000 units."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from opencode_orchestrator.mission.figures import duration_text
from opencode_orchestrator.mission.journal import Journal
from opencode_orchestrator.mission.records import RecordType
from opencode_orchestrator.mission.report import load_summary, write_report
from opencode_orchestrator.mission.store import mission_dir
from tests.mission import journals, reportjournals

pytestmark = pytest.mark.anyio

HOSTILE = "</svg><script>alert(1)</script><img src=x onerror=alert(2)>\"quoted\" 'single' &amp;"


class _Tags(HTMLParser):
    """Every start tag and attribute the page has, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


async def test_hostile_text_is_shown_never_run(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(
        tmp_path,
        "m1",
        goal=f"goal {HOSTILE}",
        title=f"title {HOSTILE}",
        finding=f"finding {HOSTILE}",
        file_name=f"src/{HOSTILE}.py",
    )
    html = (await write_report(mission_dir(tmp_path, "m1"))).html.read_text()
    page = _parse(html)
    assert "script" not in page.tags
    assert "img" not in page.tags
    assert not [name for name, _ in page.attributes if name.startswith("on")]
    assert page.tags.count("svg") == 1
    assert html.count("</svg>") == 1
    text = "".join(page.text)
    # Each text is there, as text: the goal, the title, the finding, the file name.
    for prefix in ("goal ", "title ", "finding ", "src/"):
        assert prefix + HOSTILE in text
    assert "&lt;script&gt;" in html
    assert "&quot;quoted&quot;" in html


async def test_the_page_fetches_nothing(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1")
    html = (await write_report(mission_dir(tmp_path, "m1"))).html.read_text()
    page = _parse(html)
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use"} & set(
        page.tags
    )
    assert not [name for name, _ in page.attributes if name in ("src", "href", "xlink:href")]
    assert "url(" not in html
    assert "@import" not in html
    assert not re.search(r"https?://", html)


async def test_the_page_has_every_section(tmp_path: Path) -> None:
    await reportjournals.reviewed_mission(tmp_path, "m1", budget={"max_cost": 0.5})
    directory = mission_dir(tmp_path, "m1")
    html = (await write_report(directory)).html.read_text()
    text = "".join(_parse(html).text)
    for heading in (
        "Timeline",
        "Budget",
        "Tokens and cost per role",
        "Units",
        "Evidence per unit",
        "Diff stats",
        "Mission evidence",
    ):
        assert heading in text
    assert "Why it ended:" in text
    assert "review asked for changes" in text  # the legend
    assert "pytest tests/u2" in text  # the failed check, in u2's evidence
    assert "E   assert 1 == 2" in text  # its output
    assert '<span class="bar"><i style="width:' in html  # the cost against its cap
    assert "<details open>" in html  # u2 had a failure: its evidence is open
    # Durations read as everywhere else (the live view, /mission-status).
    elapsed = duration_text(load_summary(directory)["elapsed"])
    assert f"<b>{elapsed}</b><span>elapsed</span>" in html


async def _big_mission(project: Path, units: int) -> None:
    journal = await journals.open_journal(project, "big")
    try:
        await journals.create(journal, "big", project, created_at=journal.now())
        ids = [f"u{i:04d}" for i in range(units)]
        specs = [{"id": u, "title": f"unit {u}", "files": [f"src/{u}.py"]} for u in ids]
        await journal.write(
            RecordType.PLAN_ACCEPTED, {"iteration": 1, "summary": "many", "units": specs}
        )
        await journal.write(RecordType.MISSION_STATE, {"state": "running", "reason": "go"})
        for u in ids:
            await _run_unit(journal, u)
        await journals.seal(journal)
    finally:
        await journal.close()


async def _run_unit(journal: Journal, unit: str) -> None:
    await reportjournals.unit_state(journal, unit, "ready")
    await reportjournals.unit_state(journal, unit, "dispatched", attempt=1)
    await reportjournals.turn(
        journal,
        "work",
        unit=unit,
        session=f"w_{unit}",
        tokens=1000,
        cost=0.01,
        answer=reportjournals.report(unit, f"src/{unit}.py"),
    )
    await reportjournals.unit_state(journal, unit, "accepted")
    await reportjournals.unit_state(journal, unit, "reported")
    await reportjournals.unit_state(journal, unit, "reviewing")
    await reportjournals.turn(journal, "review", unit=unit, session=f"r_{unit}", tokens=100)
    await reportjournals.verdict(journal, unit, "pass")
    await reportjournals.unit_state(journal, unit, "verified", reason="passed")


async def test_a_thousand_units_make_a_bounded_usable_page(tmp_path: Path) -> None:
    await _big_mission(tmp_path, 1000)
    paths = await write_report(mission_dir(tmp_path, "big"))
    html = paths.html.read_text()
    assert len(html.encode()) < 800_000
    assert len(paths.markdown.read_bytes()) < 300_000
    svg = html[html.index("<svg") : html.index("</svg>")]
    # 150 lanes of 7 units each, not 1,000: labelled by their first and last unit.
    assert svg.count(">u0000 … u0006</text>") == 1
    assert "u0994 … u0999" in svg
    assert svg.count("<rect") < 4000
    assert "each row merges 7 consecutive units" in html
    # The tables still have every unit.
    assert html.count("<tr><td><code>u0") == 1000
    assert "800 more units with nothing to report" in html
