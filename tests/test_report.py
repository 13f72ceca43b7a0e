"""The self-contained HTML run report (`latentforge.viz.report.write_report`, `Run.report`)."""
import base64
import json
import re
import shutil

import pytest

import latentforge as lf
from latentforge import rundir
from latentforge.errors import RunError
from latentforge.viz import report
from latentforge.viz.run_figures import reconstruction_pngs

OVERRIDES = ['data.source="digits"', "model.hidden=[16,4]", "train.progress=false",
             "train.epochs=2", "data.limit_train=96", "data.limit_eval=40",
             "train.batch_size=16", 'train.device="cpu"']
IMG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny stacked_ae run (2 epochs on digits), shared read-only by the tests."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = lf.train("stacked_ae", overrides=OVERRIDES,
                       run_dir=tmp_path_factory.mktemp("report") / "run")
    finally:
        torch.set_num_threads(threads)
    return run


def _copy_run(run, dest, figures=False):
    """A copy of the run's config, metrics (and figures) in `dest`, to vary without side
    effects on the shared run."""
    dest.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy(run.path / name, dest / name)
    if figures:
        shutil.copytree(run.path / "figures", dest / "figures")
    return dest


def test_report_holds_header_config_metrics_and_every_png(trained, tmp_path):
    png = reconstruction_pngs(trained)
    run_dir = _copy_run(trained, tmp_path / "run", figures=True)
    (run_dir / "figures" / "maps").mkdir()
    shutil.copy(png, run_dir / "figures" / "maps" / "a&b.png")  # nested + needs escaping
    path = report.write_report(run_dir)

    assert path == run_dir / "report.html" and path.is_file()
    text = path.read_text()
    assert "stacked_ae" in text and "book" in text and lf.__version__ in text
    assert "<td>hidden</td><td>[16, 4]</td>" in text       # model config value
    assert "<td>limit_train</td>" in text and "<td>digits</td>" in text
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    for key in last:                                          # every metric of the last line
        assert f"<td>{key}</td>" in text
    # one image per PNG under figures/ plus the learning curves
    assert text.count(IMG) == 2 + 1
    assert "reconstructions.png" in text and "maps/a&amp;b.png" in text
    assert "a&b.png" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", text)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    first = text.split(IMG, 1)[1].split('"', 1)[0]
    assert base64.b64decode(first).startswith(b"\x89PNG\r\n\x1a\n")


def test_run_report_method_and_custom_out(trained, tmp_path):
    out = trained.report(tmp_path / "elsewhere" / "r.html")
    assert out == tmp_path / "elsewhere" / "r.html"
    assert "<h2>Learning curves</h2>" in out.read_text()


def test_run_without_figures_or_metrics_gets_a_report(trained, tmp_path):
    run_dir = _copy_run(trained, tmp_path / "run")
    text = report.write_report(run_dir).read_text()
    assert "No PNG figures" in text and text.count(IMG) == 1  # the curves only
    (run_dir / "metrics.jsonl").unlink()
    text = report.write_report(run_dir).read_text()
    assert "No metrics.jsonl entries yet" in text and IMG not in text


def test_results_files_and_extra_sections(trained, tmp_path):
    run_dir = _copy_run(trained, tmp_path / "run")
    results = {"test": {"loss": 0.125, "rounded_accuracy": 0.875}, "likelihood": {"nll": 91.5}}
    (run_dir / "evaluation.json").write_text(json.dumps(results))
    (run_dir / "probes.json").write_text("{not json")
    extra = [("<Notes & more>", "<p>custom</p>")]
    text = report.write_report(run_dir, extra_sections=extra).read_text()
    assert "<td>test.rounded_accuracy</td>" in text and "0.875" in text
    assert "<td>likelihood.nll</td>" in text and "91.5" in text
    assert "probes.json is not valid JSON" in text
    assert "<h2>&lt;Notes &amp; more&gt;</h2><p>custom</p>" in text


def test_truncated_metrics_line_is_skipped(trained, tmp_path):
    run_dir = _copy_run(trained, tmp_path / "run")
    with open(run_dir / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "lo')  # a kill mid-write
    assert len(rundir.read_history(run_dir)) == 2
    assert report.write_report(run_dir).is_file()


def test_non_run_folder_raises_run_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RunError, match="not a latentforge run directory .no config.json"):
        report.write_report(tmp_path)
    assert not (tmp_path / "report.html").exists()
    (tmp_path / "config.json").write_text("[1, 2")
    with pytest.raises(RunError, match="not valid JSON"):
        report.write_report(tmp_path)


def test_report_reads_run_files_through_rundir():
    """One reader per run file: the report has no copy of the names or readers."""
    from latentforge.config import CONFIG_SECTIONS

    assert report.CONFIG_SECTIONS == CONFIG_SECTIONS
    for name in ("CONFIG", "METRICS", "read_history", "read_run_config"):
        assert name not in vars(report), name
