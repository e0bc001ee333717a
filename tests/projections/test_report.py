"""`ledger report`: one self-contained, accessible HTML file, with no personal data values.

The HTML is parsed with the standard library and checked against the projections; the command
runs through CliRunner and once as a real process; and headless Chromium renders it to a PNG
and a PDF (skipped when Chromium is missing, unless LEDGER_REQUIRE_CHROMIUM=1).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from ledger import Ledger
from ledger.cli.main import cli
from ledger.errors import NotFound
from ledger.projections import Projections
from ledger.projections.report import render_report

AS_OF = "2026-06-01T00:00:00Z"
NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
H2 = [
    "Integrity",
    "Breaches",
    "Data-subject requests",
    "Restricted processing (Art. 18)",
    "Recipients to be told (Art. 19)",
    "Complaints (DPA 2018 s.164A)",
    "Findings",
    "Record of processing (Art. 30)",
    "Transfers abroad",
    "Consent",
]


class Page(HTMLParser):
    """What the tests look at: elements with their attributes, headings, tables, text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[tuple[str, dict[str, str | None], str]] = []
        self.rows: list[list[str]] = []  # every table row, cells as text
        self.sections: dict[str, list[list[str]]] = {}  # rows per section id
        self.text: list[str] = []
        self._open: list[str] = []
        self._heading: tuple[str, dict[str, str | None], list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._section = ""
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.tags.append((tag, named))
        if tag == "section":
            self._section = named.get("id") or ""
        if tag in ("h1", "h2", "h3"):
            self._heading = (tag, named, [])
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = []
        if tag not in ("meta", "br", "circle", "rect", "line", "path", "polyline"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            kind, attrs, parts = self._heading
            self.headings.append((kind, attrs, " ".join("".join(parts).split())))
            self._heading = None
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self.sections.setdefault(self._section, []).append(self._row)
            self._row = None
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._heading is not None:
            self._heading[2].append(data)
        if self._cell is not None and not (self._open and self._open[-1] == "title"):
            self._cell.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def h(self, level: str) -> list[str]:
        return [text for kind, _, text in self.headings if kind == level]


def _markers(story: list[dict[str, Any]]) -> list[str]:
    """Every personal data value the story records (the `data` fields)."""
    found = [str(v) for e in story for v in (e.get("data") or {}).values()]
    assert len(found) > 10
    return found


def _assert_self_contained_and_clean(html: str, story: list[dict[str, Any]]) -> None:
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<link" not in lowered
    assert "http://" not in lowered and "https://" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    for value in _markers(story):
        assert value not in html, "a personal data value is in the report"


def test_report_matches_the_projections(filled: Ledger, story: list[dict[str, Any]]) -> None:
    size = filled.size
    with Projections(filled) as p:
        html = render_report(p, as_of=AS_OF, now=NOW)
        breaches = p.breaches(as_of=AS_OF)
        clocks = p.requests(as_of=AS_OF)
        records = p.ropa(as_of=AS_OF).purposes
    assert filled.size == size, "making a report recorded something (a decrypting read?)"
    page = Page(html)
    _assert_self_contained_and_clean(html, story)

    # structure and accessibility
    assert page.all("html")[0].get("lang") == "en"
    assert len(page.h("h1")) == 1 and "Northgate IT Services Ltd" in page.h("h1")[0]
    assert page.h("h2") == H2
    assert all(th.get("scope") in ("col", "row") for th in page.all("th"))
    svgs = page.all("svg")
    assert len(svgs) >= 2 + len(clocks)
    assert all(s.get("role") == "img" and s.get("aria-label") for s in svgs)
    assert html.count("<title>") == 1 + len(svgs)  # the page's, and one per drawing
    assert len(page.all("figure")) == len(page.all("figcaption")) >= 2
    assert "@media print" in html

    # integrity: the event count and the verification, run now
    facts = {row[0]: row[1] for row in page.sections["integrity"] if len(row) == 2}
    assert facts["Events on the ledger"] == str(size)
    assert facts["Verification"].startswith(f"INTACT {size} events")
    assert facts["Verification run"] == "2026-06-02 09:30 UTC"
    assert facts["Last checkpoint"].startswith("none yet")

    # breaches: one h3 each, late steps marked in words and in the drawing
    breach_ids = [attrs["id"] for kind, attrs, _ in page.headings if kind == "h3"
                  and (attrs.get("id") or "").startswith("breach-")]  # fmt: skip
    assert breach_ids == [f"breach-{b.breach}" for b in breaches] and breaches
    late_rows = [r for r in page.sections["breaches"] if "LATE" in r[-1]]
    assert [r[0] for r in late_rows] == ["reported (initial)"]
    assert "reported (initial) — LATE" in html
    assert any("72-hour deadline" in r[0] for r in page.sections["breaches"])

    # requests: one row each, in the projection's order, with its dates
    request_rows = page.sections["requests"][1:]
    assert [r[0] for r in request_rows] == [c.request for c in clocks] and clocks
    for row, c in zip(request_rows, clocks, strict=True):
        shown = [c.subject, c.kind, c.received, c.target, c.legal_due]  # None (paused): a dash
        assert row[1:6] == ["—" if v is None else str(v) for v in shown]
        assert row[6].startswith("—" if c.due is None else str(c.due))
    extended = next(c for c in clocks if c.extension_reason)
    assert f"{extended.due} (extended)" in [r[6] for r in request_rows]

    # the record of processing: a table per purpose; transfers with their safeguards
    purposes = [text for kind, attrs, text in page.headings
                if kind == "h3" and attrs.get("class") == "purpose"]  # fmt: skip
    assert purposes == [r.purpose for r in records]
    transfers = page.sections["transfers"][1:]
    expected = [[t.to, t.kind, t.country, r.purpose, t.safeguard]
                for r in records for t in r.transfers]  # fmt: skip
    assert transfers == expected and expected

    # consent: the chart and the totals at the moment
    consent_rows = page.sections["consent"][1:]
    assert [r[0] for r in consent_rows] == ["marketing.communications.email"]


def test_as_of_before_anything_and_one_breach(filled: Ledger) -> None:
    with Projections(filled) as p:
        early = Page(render_report(p, as_of="2026-01-01T00:00:00Z", now=NOW))
        one = Page(render_report(p, as_of=AS_OF, breach="INC-2026-001", now=NOW))
        with pytest.raises(NotFound, match="no breach 'INC-0000'"):
            render_report(p, as_of=AS_OF, breach="INC-0000")
    assert "No breach on the ledger at this moment." in "".join(early.text)
    assert "No data-subject request on the ledger at this moment." in "".join(early.text)
    assert "No consent recorded at this moment." in "".join(early.text)
    assert early.h("h2") == H2
    assert [t for t in one.h("h3") if t.startswith("INC-")] == ["INC-2026-001"]


def test_values_are_escaped(ledger: Ledger, story: list[dict[str, Any]]) -> None:
    hostile = "<script>alert(1)</script>"
    for event in story:
        if event["type"] == "breach_detected":
            event["description"] = hostile
    ledger.record_many(story)
    with Projections(ledger) as p:
        html = render_report(p, as_of=AS_OF, now=NOW)
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# -- the command ---------------------------------------------------------------------------------


class Cli:
    def __init__(self, tmp_path: Path, config_path: Path, url: str) -> None:
        self.args = ["--db", url, "--keys", str(tmp_path / "keys"), "--config",
                     str(config_path), "--signing-key", str(tmp_path / "signing")]  # fmt: skip

    def __call__(self, *args: str, input: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, [*self.args, *args], input=input)


@pytest.fixture
def run(store_url: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]) -> Cli:
    """The command against the story, checkpointed, on SQLite and on PostgreSQL."""
    command = Cli(tmp_path, config_path, store_url)
    for args, given in ((["init"], None), (["import", "-"], _jsonl(story)), (["checkpoint"], None)):
        result = command(*args, input=given)
        assert result.exit_code == 0, result.output
    return command


def _jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def test_the_command_writes_a_file_or_stdout(
    run: Cli, tmp_path: Path, story: list[dict[str, Any]]
) -> None:
    out = tmp_path / "report.html"
    out.write_text("an older report", encoding="utf-8")
    written = run("report", "--as-of", "2026-06-01", "-o", str(out))
    assert written.exit_code == 0, written.output
    assert written.stdout == ""
    assert written.stderr.strip() == f"wrote the report to {out}"
    html = out.read_text(encoding="utf-8")
    _assert_self_contained_and_clean(html, story)
    page = Page(html)
    facts = {row[0]: row[1] for row in page.sections["integrity"] if len(row) == 2}
    assert facts["Last checkpoint size"] == f"{facts['Events on the ledger']} events"
    root = facts["Merkle root now (hex)"]  # nothing was recorded since the checkpoint
    assert len(root) == 64 and facts["Last checkpoint root"].endswith(f"{root} (hex)")
    # signed just now, by this test: the same day the report was made
    made = facts["Verification run"][:10]
    assert facts["Last checkpoint signed"].startswith(made), facts
    # the end of 1 June in Europe/London (BST) is 22:59:59 UTC
    assert "state as of 2026-06-01 22:59 UTC" in " ".join("".join(page.text).split())

    printed = run("report", "--breach", "INC-2026-001")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.startswith("<!DOCTYPE html>") and printed.stderr == ""
    assert [t for t in Page(printed.stdout).h("h3") if t.startswith("INC-")] == ["INC-2026-001"]

    unknown = run("report", "--breach", "INC-0000", "-o", str(tmp_path / "none.html"))
    assert unknown.exit_code == 2
    assert "error: no breach 'INC-0000'" in unknown.stderr
    assert not (tmp_path / "none.html").exists()

    nowhere = run("report", "-o", str(tmp_path / "missing" / "r.html"))
    assert nowhere.exit_code == 2
    assert "error: cannot write the report to" in nowhere.stderr


def test_the_command_as_a_real_process(tmp_path: Path, config_path: Path, story: list[Any]) -> None:
    env = {**os.environ, "LEDGER_DB": f"sqlite:///{tmp_path / 'p.db'}",
           "LEDGER_KEYS": str(tmp_path / "keys"), "LEDGER_CONFIG": str(config_path),
           "LEDGER_SIGNING": str(tmp_path / "signing")}  # fmt: skip
    exe = Path(sys.executable).with_name("ledger")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ledger.cli"]
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    subprocess.run([*command, "import", "-"], env=env, input=_jsonl(story), check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    out = tmp_path / "r.html"
    made = subprocess.run(
        [*command, "report", "--as-of", "2026-06-01", "--breach", "INC-2026-001", "-o", str(out)],
        env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout == b"" and b"wrote the report to" in made.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    bad = subprocess.run([*command, "report", "--breach", "nope"], env=env,
                         capture_output=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2 and bad.stdout == b""
    assert (
        bad.stderr.decode().strip()
        == "error: no breach 'nope' on the ledger at "
        + (bad.stderr.decode().strip().rsplit(" ", 1)[-1])
    )


# -- rendered in a browser -----------------------------------------------------------------------


@pytest.fixture
def chromium() -> Iterator[str]:
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if found is None:
        if os.environ.get("LEDGER_REQUIRE_CHROMIUM") == "1":
            pytest.fail("LEDGER_REQUIRE_CHROMIUM=1 but chromium is not installed")
        pytest.skip("chromium is not installed")
    yield found


def _headless(browser: str, profile: Path, *args: str) -> None:
    subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={profile}", *args],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def test_chromium_renders_the_report_to_png_and_pdf(
    chromium: str, tmp_path: Path, config_path: Path, story: list[dict[str, Any]]
) -> None:
    from ledger.config import load_config

    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Ledger.init(url, tmp_path / "keys", config=load_config(config_path)) as ledger:
        ledger.record_many(story)
        with Projections(ledger) as p:
            html = render_report(p, as_of=AS_OF, now=NOW)
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    png, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    _headless(chromium, tmp_path / "profile", f"--screenshot={png}", "--window-size=1280,2000",
              page.as_uri())  # fmt: skip
    _headless(chromium, tmp_path / "profile", f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
              page.as_uri())  # fmt: skip
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 40_000, "the screenshot looks blank"
    document = pdf.read_bytes()
    assert document.startswith(b"%PDF-") and len(document) > 20_000
    assert document.count(b"/Type /Page") - document.count(b"/Type /Pages") >= 2


def test_the_report_shows_restrictions_notices_and_complaints(filled: Ledger) -> None:
    """The demo's story at 15 August 2026: cust-1002's ticket restricted for legal claims
    (Art. 18(1)(c)) and cust-1003's job title no longer (lifted 29 May); the procurement
    supplier that got cust-1003's job title not yet told of its restriction (Art. 19), the
    training supplier told of cust-1004's erasure; CMP-2026-002, received 2 July and never
    acknowledged, late after the 30 days beginning that day (DPA 2018 s.164A(3)), and
    CMP-2026-001 acknowledged in time."""
    with Projections(filled) as p:
        page = Page(render_report(p, as_of="2026-08-15T12:00:00Z", now=NOW))
    restricted = page.sections["restrictions"][1:]
    assert [r[:4] for r in restricted] == [
        ["cust-1002", "user.content.private", "helpdesk", "legal_claims"]
    ]
    notices = {(r[0], r[1], r[2]): r[5] for r in page.sections["notices"][1:]}
    assert notices[("cust-1003", "sup:edu-procure", "restriction")].startswith("NOT TOLD since")
    assert notices[("cust-1004", "sup:skills-academy", "erasure")].startswith("told")
    complaints = {r[0]: r for r in page.sections["complaints"][1:]}
    assert complaints["CMP-2026-002"][8] == "LATE"
    assert complaints["CMP-2026-002"][4] == "2026-07-31"  # 2 July + 29 days
    assert complaints["CMP-2026-001"][8] != "LATE"
