"""`latentforge chapter` (smoke profile: every section on tiny digits runs) and
`latentforge report`."""
from __future__ import annotations

import json

import pytest

from conftest import assert_one_error_line
from latentforge.chapter import SECTIONS, run_chapter
from latentforge.chapter.page import book_rows


@pytest.fixture(scope="module")
def smoke_chapter(tmp_path_factory):
    """The whole chapter, smoke profile (~30 s on one thread)."""
    out = tmp_path_factory.mktemp("chapter")
    return out, run_chapter(out, "smoke")


def test_every_section_is_in_the_chapter_report(smoke_chapter):
    out, results = smoke_chapter
    assert [r.key for r in results] == [s.key for s in SECTIONS]
    page = (out / "chapter.html").read_text()
    for section in SECTIONS:
        assert section.title.split(" (")[0] in page  # html-escaped titles keep these words
    assert "http://" not in page and "https://" not in page
    assert page.count('<img src="data:image/png;base64,') >= len(SECTIONS) - 2
    saved = json.loads((out / "chapter.json").read_text())
    assert saved["profile"] == "smoke" and len(saved["sections"]) == len(SECTIONS)


def test_sections_measure_what_the_book_shows(smoke_chapter):
    out, results = smoke_chapter
    by_key = {r.key: r for r in results}
    assert by_key["pca"].rows[0][0] == "angle to PCA plane (deg)"
    assert [row[0] for row in by_key["stacked"].rows] == ["val loss", "val rounded acc"]
    assert len(by_key["pretraining"].rows) == 3 and len(by_key["greedy"].rows) == 4
    for key in ("stacked", "conv", "vae", "gan", "dcgan"):
        assert by_key[key].figures, key
        assert all((out / f).is_file() for f in by_key[key].figures)
    assert any("latent_map" in f for f in by_key["stacked"].figures)
    assert any("interpolation_grid" in f for f in by_key["vae"].figures)
    assert (out / "stacked" / "report.html").is_file()  # every run gets its own report
    for key, figure in (("progan", "growth.png"), ("stylegan", "style_mix.png"),
                        ("stacked", "top_activations.png"), ("vae", "arithmetic.png")):
        assert any(f.endswith(figure) for f in by_key[key].figures), key
    assert not any("arithmetic" in f for f in by_key["dcgan"].figures)  # digits: no labels
    assert all(row[0] for row in book_rows(results)[:1])


def test_gan_sections_have_rows_and_summary_lines_end_on_a_word(smoke_chapter):
    from latentforge.chapter.runner import _summary_line

    out, results = smoke_chapter
    by_key = {r.key: r for r in results}
    for key in ("gan", "gan_replay", "gan_minibatch", "dcgan", "progan", "stylegan"):
        assert [row[0] for row in by_key[key].rows][:2] == ["val D loss", "val G loss"], key
        assert all(row[2] != "-" for row in by_key[key].rows), key
    from latentforge.chapter.runner import SectionResult

    noted = SectionResult("x", "x", "smoke", note=by_key["progan"].note)  # no rows: the note
    line = _summary_line(noted)
    assert line.split(": ", 1)[1].split()[-2] in noted.note.split()  # last word kept whole
    assert line.endswith("[...]")


def test_chapter_reuses_finished_sections(smoke_chapter, cli):
    out, results = smoke_chapter
    code, stdout, err = cli(["chapter", "--smoke", "--out", str(out),
                             "--sections", "pretraining"])
    assert code == 0, err
    again = json.loads((out / "chapter.json").read_text())["sections"]
    assert [s["key"] for s in again] == ["stacked", "pretraining"]  # with its dependency
    first = {r.key: r.seconds for r in results}
    assert all(s["seconds"] == first[s["key"]] for s in again)  # reused, not rerun
    assert "2 sections" in stdout


def test_chapter_unknown_section_is_one_error_line(cli, tmp_path):
    code, _, err = cli(["chapter", "--smoke", "--out", str(tmp_path), "--sections", "vea"])
    assert code == 2
    assert_one_error_line(err, "Unknown chapter sections", "vae")


def test_report_command_writes_html(smoke_chapter, cli, tmp_path):
    out, _ = smoke_chapter
    target = tmp_path / "r.html"
    code, stdout, err = cli(["report", str(out / "conv"), "--out", str(target)])
    assert code == 0, err
    page = target.read_text()
    assert "conv_ae" in page and "reconstructions.png" in page
    code, _, err = cli(["report", str(tmp_path)])
    assert code == 2
    assert_one_error_line(err, "not a latentforge run")
