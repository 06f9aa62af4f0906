"""What the main job (``python3 dev.py bench``: ``bench/run.py --quick``) shows and writes,
rendered from the committed results in bench/results/ (no measuring, no timing assertions):
a terminal report within 100 columns, the rule for rows with a disturbed measurement, the
quick run's plots, and an untracked default output folder."""
import copy
import importlib.util
import io
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
sys.path.insert(0, os.path.join(ROOT, "bench"))

import harness  # noqa: E402
import report  # noqa: E402


def load(mode):
    with open(os.path.join(RESULTS, f"{mode}.json"), encoding="utf-8") as fh:
        return json.load(fh)


def table_row(result, loss, shape, dtype, threads):
    for row in report.rows(result):
        if (row["loss"], row["shape"], row["dtype"], row["threads"]) == (
                loss, shape, dtype, threads):
            return row
    raise LookupError((loss, shape, dtype, threads))


def disturb(result, cell):
    """Mark ``cell`` as measured while more than the noise threshold of cores was busy."""
    cell["other_cores"] = result["settings"]["noise_cores"] + 0.5


@pytest.mark.parametrize("mode", ["quick", "full", "catalogue"])
def test_terminal_report_fits_in_100_columns(mode):
    result = load(mode)
    files = [f"{mode}.md", f"{mode}.json"] + result.get("plots", [])
    text = report.terminal_text(result, os.path.join(ROOT, "bench", "out"), files)
    lines = text.splitlines()
    too_wide = [line for line in lines if len(line) > report.WIDTH]
    assert not too_wide, too_wide
    assert report.WIDTH == 100
    # the folder and every file written are named at the end
    end = text[text.index("Wrote to "):]
    assert f"bench{os.sep}out{os.sep}" in end.splitlines()[0]
    for name in files:
        assert name in end


def test_compact_table_has_every_row_and_the_markdown_ratio():
    result = load("full")
    table = report.compact_table(result).splitlines()
    header = table[0].split()
    assert header[:4] == ["workload", "size", "dtype", "threads"]
    assert "best / fastloss" in table[0] and "best peer" in table[0]
    assert len(table) == 2 + len(report.rows(result))
    # the full markdown keeps every peer's column; the terminal table has fastloss, the
    # best peer, its time and the ratio the markdown's "best peer / fastloss" shows
    md_rows = [line for line in report.times_table(result).splitlines()[2:]]
    for md, term in zip(md_rows, table[2:]):
        best = md.strip("|").split("|")[-2].strip()          # e.g. "1.54 (numba)"
        ratio, peer = best.split()
        assert term.split()[-1] == ratio
        assert f" {peer.strip('()')} " in term


def test_a_disturbed_fastloss_or_best_peer_cell_gives_no_ratio_and_no_count():
    result = load("full")
    clean = report.summary(result)
    assert clean["rows"] == 48 and clean["disturbed"] == 0
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert (f"fastloss is first on {clean['first']} of the {clean['rows']} rows"
            in " ".join(readme.split()))                       # the README's prose
    columns = report.peer_columns(result)

    # a row fastloss wins, with fastloss's cell disturbed
    won = next(r for r in report.rows(result)
               if report.best_rival(r, columns)[1] > report._time(r["cells"]["fastloss"]))
    # a row fastloss loses, with the best peer's cell disturbed
    lost = next(r for r in report.rows(result)
                if report.best_rival(r, columns)[1] < report._time(r["cells"]["fastloss"]))
    touched = copy.deepcopy(result)
    disturb(touched, table_row(touched, won["loss"], won["shape"], won["dtype"],
                               won["threads"])["cells"]["fastloss"])
    best_peer = report.best_rival(lost, columns)[0]
    disturb(touched, table_row(touched, lost["loss"], lost["shape"], lost["dtype"],
                               lost["threads"])["cells"][best_peer])
    first = clean["first"] - 1             # the won row no longer counts, the lost one never did
    assert report.summary(touched) == {"rows": 46, "first": first, "disturbed": 2}

    md = report.markdown(touched)
    assert md.count(f"disturbed{report.DISTURBED} (") == 2
    assert f"first (every peer slower) on {first} of 46 rows; 2 more rows" in md
    terminal = report.compact_table(touched).splitlines()[2:]
    flagged = [line for line in terminal if line.endswith("disturbed")]
    assert len(flagged) == 2
    assert all(report.DISTURBED in line for line in flagged)


def test_a_disturbed_peer_that_is_not_the_best_changes_nothing():
    result = load("full")
    columns = report.peer_columns(result)
    row = report.rows(result)[0]
    best = report.best_rival(row, columns)[0]
    other = next(p for p in columns if p != best and report._time(row["cells"].get(p)))
    touched = copy.deepcopy(result)
    disturb(touched, table_row(touched, row["loss"], row["shape"], row["dtype"],
                               row["threads"])["cells"][other])
    assert report.summary(touched) == report.summary(result)
    assert "disturbed" not in report.compact_table(touched)


def test_the_committed_quick_run_leaves_its_disturbed_rows_out():
    result = load("quick")
    s = report.summary(result)
    columns = report.peer_columns(result)
    flagged = [r for r in report.rows(result)
               if report.row_disturbed(result, r, report.best_rival(r, columns))]
    assert s["disturbed"] == len(flagged)
    assert s["rows"] + s["disturbed"] == len(report.rows(result))
    note = f"on {s['first']} of {s['rows']} rows" + (
        f"; {s['disturbed']} more row" if s["disturbed"] else ".")
    assert note in report.markdown(result)


def test_quick_run_writes_its_plots_and_tables_to_the_folder(tmp_path):
    result = load("quick")
    result.pop("plots", None)
    shown = io.StringIO()
    files = report.write_outputs(result, str(tmp_path), plots=True, log=shown, out=shown)
    plots = [f for f in files if f.startswith("plots/")]
    losses = dict.fromkeys(w["loss"] for w in result["workloads"])
    assert sorted(plots) == sorted([f"plots/quick_bars_{loss}.png" for loss in losses] +
                                   ["plots/quick_time_vs_size_threads_default.png"])
    for name in files:
        path = tmp_path / name
        assert path.stat().st_size > 0, name
    for name in plots:
        with open(tmp_path / name, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "quick.md").read_text(encoding="utf-8")
    assert "Plots: " in md and "(plots/quick_bars_mse.png)" in md
    assert "| numpy |" in md                       # the full table is in the file only
    text = shown.getvalue()
    assert "| numpy |" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "quick.md, quick.json, plots/quick_bars_mse.png" in text


def test_results_go_to_an_untracked_folder_unless_asked():
    parser = __import__("argparse").ArgumentParser()
    harness.add_arguments(parser)
    assert parser.parse_args([]).out == os.path.join(ROOT, "bench", "out")
    assert parser.parse_args(["--out", "bench/results"]).out == "bench/results"
    with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as fh:
        assert "bench/out/" in fh.read().split()


def test_dev_py_passes_a_new_output_folder_as_a_repository_path():
    """dev.py runs bench/run.py in tests/: a relative --out must still mean the repository's
    folder, also when it does not exist yet."""
    spec = importlib.util.spec_from_file_location("dev_script", os.path.join(ROOT, "dev.py"))
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    assert dev._absolute("bench/results") == os.path.join(dev.ROOT, "bench/results")
    assert dev._absolute("bench/not-yet-made") == os.path.join(dev.ROOT, "bench/not-yet-made")
    assert dev._absolute("--quick") == "--quick"
    assert dev._absolute("mse") == "mse"                      # a pytest -k expression
