"""Tables and plots of a benchmark result (the dict ``harness.run`` returns and
writes as JSON).  Everything here is derived from that dict, so ``--from-json`` can
re-render a run without measuring again."""
import json
import os
import sys
import textwrap

from harness import display_name

REFERENCE = "bandwidth"


# --------------------------------------------------------------------------------------
# Reading the result
# --------------------------------------------------------------------------------------

def _shape_label(shape):
    if len(shape) == 1:
        n = shape[0]
        e = len(str(n)) - 1
        return f"1e{e}" if 10**e == n else str(n)
    return "x".join(map(str, shape))


def _size(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def peer_columns(result):
    """Peers shown as columns: fastloss, then the rivals that ran at all (not missing)."""
    cols = []
    for name, info in result["peers"].items():
        if name in ("fastloss", REFERENCE):
            continue
        runs = info["by_threads"].values()
        if all("missing" in r for r in runs):
            continue
        cols.append(name)
    return cols


def rows(result):
    """One row per (workload, thread configuration), in run order: a dict with the
    workload fields and ``cells``: peer -> measurement record."""
    index = {}
    for m in result["measurements"]:
        key = (m["loss"], tuple(m["shape"]), m["dtype"], m["threads"])
        index.setdefault(key, {})[m["peer"]] = m
    out = []
    for w in result["workloads"]:
        for t in result["thread_configs"]:
            key = (w["loss"], tuple(w["shape"]), w["dtype"], t["label"])
            if key in index:
                out.append({"loss": w["loss"], "shape": tuple(w["shape"]),
                            "dtype": w["dtype"], "threads": t["label"], "cells": index[key]})
    return out


DISTURBED = "†"


def _disturbed(result, cell):
    """True if other processes kept more than the noise threshold of cores busy during
    the (least disturbed) measurement of ``cell``."""
    other = cell.get("other_cores") if cell else None
    return other is not None and other > result["settings"].get("noise_cores", 0.3)


def _time(cell):
    return cell["median_s"] if cell and cell.get("status") == "ok" else None


def best_rival(row, columns):
    """(peer, time) of the fastest rival that was timed (checked correct), or None."""
    timed = [(p, _time(row["cells"].get(p))) for p in columns]
    timed = [(p, t) for p, t in timed if t is not None]
    return min(timed, key=lambda pt: pt[1]) if timed else None


def row_disturbed(result, row, best):
    """True if the row's fastloss cell or its best peer's cell is still disturbed (after
    the harness's re-takes): such a row reports no ratio and counts in no summary."""
    cells = row["cells"]
    return (_disturbed(result, cells.get("fastloss"))
            or (best is not None and _disturbed(result, cells.get(best[0]))))


def summary(result):
    """Where fastloss is first, over the rows that can be compared: a dict with ``rows``
    (fastloss and at least one peer timed, neither disturbed), ``first`` (of those, rows
    where every peer is slower than fastloss) and ``disturbed`` (rows left out because
    fastloss's or the best peer's measurement is disturbed)."""
    columns = peer_columns(result)
    counted = first = disturbed = 0
    for row in rows(result):
        fl, best = _time(row["cells"].get("fastloss")), best_rival(row, columns)
        if fl is None or best is None:
            continue
        if row_disturbed(result, row, best):
            disturbed += 1
            continue
        counted += 1
        first += best[1] > fl
    return {"rows": counted, "first": first, "disturbed": disturbed}


def _summary_note(result):
    s = summary(result)
    if not s["rows"] and not s["disturbed"]:
        return []
    text = (f"- fastloss is first (every peer slower) on {s['first']} of {s['rows']} rows")
    if s["disturbed"]:
        text += (f"; {s['disturbed']} more row{'s' if s['disturbed'] > 1 else ''}, whose "
                 f"fastloss or best-peer measurement is disturbed ({DISTURBED}), "
                 f"{'are' if s['disturbed'] > 1 else 'is'} not counted and show"
                 f"{'' if s['disturbed'] > 1 else 's'} no ratio")
    return [text + "."]


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

def fmt_time(seconds):
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            v = seconds / scale
            return f"{v:.3g} {unit}" if v < 100 else f"{v:.0f} {unit}"


def _status_cell(cell):
    if cell is None:
        return "n/a"
    return {"skipped": "n/a", "wrong": "**wrong**", "error": "error"}.get(cell["status"], "?")


def _ratio(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _table(result, columns, header, cell_fn, extra=()):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < 4 else "---:" for i in range(len(header))) + "|"]
    for row in rows(result):
        fl = _time(row["cells"].get("fastloss"))
        bw = _time(row["cells"].get(REFERENCE))
        cells = [display_name(row["loss"]),
                 _shape_label(row["shape"]), row["dtype"], row["threads"]]
        cells += [cell_fn(row["cells"].get(p), fl, bw) for p in ["fastloss"] + columns]
        cells += [fn(row, fl, bw) for fn in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def times_table(result):
    """Median time per call; each rival also as a multiple of fastloss's time."""
    columns = peer_columns(result)

    def cell(c, fl, bw):
        t = _time(c)
        if t is None:
            return _status_cell(c)
        mark = DISTURBED if _disturbed(result, c) else ""
        if c["peer"] == "fastloss" or not fl:
            return fmt_time(t) + mark
        return f"{fmt_time(t)}{mark} ({_ratio(t / fl)}x)"

    def bw_cell(row, fl, bw):
        return fmt_time(bw)

    def best(row, fl, bw):
        b = best_rival(row, columns)
        if not (b and fl):
            return "-"
        if row_disturbed(result, row, b):
            return f"disturbed{DISTURBED} ({b[0]})"
        return f"{_ratio(b[1] / fl)} ({b[0]})"

    def fl_bw(row, fl, bw):
        return _ratio(fl / bw) if fl and bw else "-"

    header = (["workload", "size", "dtype", "threads", "fastloss"] + columns +
              ["bandwidth ref", "best peer / fastloss", "fastloss / bandwidth"])
    return _table(result, columns, header, cell, (bw_cell, best, fl_bw))


def bandwidth_table(result):
    """Every peer's median time as a multiple of the bandwidth reference."""
    columns = peer_columns(result)

    def cell(c, fl, bw):
        t = _time(c)
        return _ratio(t / bw) if t is not None and bw else _status_cell(c)

    header = ["workload", "size", "dtype", "threads", "fastloss"] + columns
    return _table(result, columns, header, cell)


def _notes(result):
    """Skipped, wrong and failed peers, per-peer notes, thread-usage anomalies."""
    out = []
    for name, info in result["peers"].items():
        for label, run in info["by_threads"].items():
            for key in ("missing", "failed"):
                if key in run:
                    out.append(f"- **{name}** (threads={label}): {run[key]}")
    seen, busy = set(), {}
    disturbed = [m for m in result["measurements"] if _disturbed(result, m)]
    if disturbed:
        noise = result["settings"].get("noise_cores", 0.3)
        worst = max(m["other_cores"] for m in disturbed)
        out.append(f"- {DISTURBED} {len(disturbed)} of {len(result['measurements'])} "
                   f"measurements ran while other processes kept more than {noise} cores "
                   f"busy (up to {worst:.2f} cores; the least disturbed of up to "
                   f"{result['settings'].get('attempts', 1)} attempts is shown): treat them "
                   f"with care.")
    if result.get("mode") != "catalogue":
        out += _summary_note(result)
    for m in result["measurements"]:
        where = f"{m['loss']} {_shape_label(m['shape'])} {m['dtype']}"
        if m["status"] == "skipped":
            key = (m["peer"], m["loss"], "skip")
            if key not in seen:
                seen.add(key)
                out.append(f"- **{m['peer']}** skipped for {m['loss']}: {m['reason']}")
        elif m["status"] in ("wrong", "error"):
            out.append(f"- **{m['peer']}** {m['status']} on {where} (threads={m['threads']}): "
                       f"{m['reason']}")
        if m.get("note") and (m["peer"], m["loss"], "note") not in seen:
            seen.add((m["peer"], m["loss"], "note"))
            out.append(f"- **{m['peer']}** {m['loss']}: {m['note']}")
        if (m["status"] == "ok" and m["threads"] == "1" and m.get("cpu_per_wall")
                and m["cpu_per_wall"] > 1.3):
            busy.setdefault(m["peer"], []).append(m["cpu_per_wall"])
        if m["peer"] == "fastloss" and m.get("bitwise_equal_to_1_thread") is False:
            out.append(f"- **fastloss** on {where} (threads={m['threads']}) is not bitwise "
                       f"equal to its 1-thread result")
    for peer, ratios in busy.items():
        out.append(f"- **{peer}** kept up to {max(ratios):.1f} cores busy (CPU time / wall "
                   f"time) in {len(ratios)} measurements of the 1-thread configuration")
    return out


def _versions(result):
    parts = []
    for info in result["peers"].values():
        for pkg, ver in info["versions"].items():
            item = f"{pkg} {ver}"
            if item not in parts:
                parts.append(item)
    return ", ".join(parts)


def _rounds_text(result):
    n = result["settings"].get("rounds", 1)
    return f" (median of {n} rounds, each in fresh worker processes)" if n > 1 else ""


def _malloc_text(result):
    env = result.get("worker_environment") or {}
    return ", ".join(f"{k}={v}" for k, v in env.items()) or "glibc defaults"


def catalogue_table(result):
    """Catalogue mode: loss, shape, fastloss's time, NumPy's and PyTorch's (as multiples
    of fastloss's), n/a where the peer has no such loss, **wrong** where it disagreed."""
    cells = {}
    for m in result["measurements"]:
        cells.setdefault((m["loss"], tuple(m["shape"])), {})[m["peer"]] = m
    lines = ["| loss | shape | fastloss | numpy (numpy / fastloss) | "
             "torch (torch / fastloss) |", "|---|---|---:|---:|---:|"]
    for w in result["workloads"]:
        row = cells.get((w["loss"], tuple(w["shape"])), {})
        fl = _time(row.get("fastloss"))

        def cell(peer):
            c = row.get(peer)
            t = _time(c)
            if t is None:
                return _status_cell(c)
            mark = DISTURBED if _disturbed(result, c) else ""
            if peer == "fastloss" or not fl:
                return fmt_time(t) + mark
            return f"{fmt_time(t)}{mark} ({_ratio(t / fl)}x)"
        name = display_name(w["loss"])
        lines.append(f"| {name} | {_shape_label(w['shape'])} | {cell('fastloss')} | "
                     f"{cell('numpy')} | {cell('torch')} |")
    return "\n".join(lines)


def _header(result, title):
    """The lines every report starts with: title, command, date, machine, versions, load."""
    mach, cfg = result["machine"], result["fastloss_config"]
    lines = [
        title,
        "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']} (took {result.get('duration_s', '?')} s)  ",
        f"Machine: {mach['cpu']}, {mach['cores_available']} cores available "
        f"({', '.join(mach['cpu_flags'])}), {mach['memory_gib']} GiB, {mach['os']}, "
        f"Python {mach['python']}  ",
        f"fastloss {cfg['version']}: backend {cfg['backend']}, {cfg.get('compiler')}, "
        f"OpenMP {'on' if cfg.get('openmp') else 'off'}, SIMD: {cfg.get('simd')}  ",
        f"Peers: {_versions(result)}  ",
    ]
    load = mach.get("load_average_at_start")
    if load:
        end = mach.get("load_average_at_end")
        lines.append(f"Load average (1/5/15 min) at start {', '.join(f'{x:.2f}' for x in load)}"
                     + (f", at end {', '.join(f'{x:.2f}' for x in end)}" if end else ""))
    return lines


def catalogue_markdown(result):
    """The catalogue report: header as the full run's, the table, the notes."""
    lines = _header(result, "# fastloss: catalogue losses against NumPy and PyTorch")
    lines += [
        "",
        "Each cell: median time of one call computing the mean loss **and** its gradient "
        "w.r.t. every prediction (both or all three embeddings for contrastive, triplet and "
        f"cosine embedding), after warm-up{_rounds_text(result)}; float32, one thread "
        "(each peer runs in its own worker process pinned to one core).  fastloss: "
        "`value_and_grad(..., out=...)` with the gradient buffer(s) preallocated.  "
        "numpy: the hand-written NumPy formula "
        "(`NUMPY_FORMULAS` in `bench/peers.py`).  torch: the "
        "`torch.nn.functional` loss, forward and backward.  In brackets the peer's time as "
        "a multiple of fastloss's (above 1: fastloss is faster).  Every peer's value and "
        "gradients were checked against fastloss before timing; a peer that disagrees is "
        "marked **wrong** and not timed; n/a: PyTorch has no such loss.  Parameters are "
        "fastloss's defaults except those in the loss column.",
        "",
        catalogue_table(result),
    ]
    notes = _notes(result)
    if notes:
        lines += ["", "Notes:", ""] + notes
    return "\n".join(lines) + "\n"


def markdown(result):
    """The report: header (command, date, machine, versions), the time table, the
    bandwidth table, and the notes."""
    if result["mode"] == "catalogue":
        return catalogue_markdown(result)
    title = "Quick benchmark" if result["mode"] == "quick" else "Benchmark"
    lines = _header(result, f"# fastloss: {title.lower()} against its peers")
    lines += [
        "",
        "Each cell: median time of one call computing the mean loss **and** its gradient "
        "w.r.t. the prediction (logits), after warm-up"
        f"{_rounds_text(result)}; in brackets the peer's time as a "
        "multiple of fastloss's (above 1: fastloss is faster).  *best peer / fastloss*: "
        "the fastest peer that passed the correctness check, over fastloss (above 1: "
        f"fastloss wins; *disturbed{DISTURBED}* instead of a ratio where fastloss's or "
        "that peer's measurement is disturbed: such rows count in no summary).  "
        "*bandwidth ref*: `np.add(a, b, out=c)` on arrays of the "
        "prediction's size and dtype (one thread), the memory traffic of a fused "
        "elementwise pass.  Peers that disagree with fastloss are marked **wrong** and not "
        "timed; n/a: the peer has no such loss.  Threads: `1` (the worker process is pinned "
        "to one core) or the number of cores (`default`: each library's default).  NumPy "
        "and the bandwidth reference always run on one thread.  Each (peer, threads) pair "
        "runs in its own process, with glibc malloc kept warm "
        f"({_malloc_text(result)}) so that peers which allocate temporaries are timed in "
        "steady state.",
        "",
        times_table(result),
        "",
        "Times as multiples of the bandwidth reference:",
        "",
        bandwidth_table(result),
    ]
    notes = _notes(result)
    if notes:
        lines += ["", "Notes:", ""] + notes
    plots = result.get("plots")
    if plots:
        lines += ["", "Plots: " + ", ".join(f"[{os.path.basename(p)}]({p})" for p in plots)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------
# Terminal
# --------------------------------------------------------------------------------------

WIDTH = 100     # the terminal report fits in this many columns


def compact_table(result):
    """The terminal's table, plain text within :data:`WIDTH` columns: per row fastloss's
    time, the fastest peer that passed the correctness check, its time and that time over
    fastloss's ("best / fastloss", the markdown's "best peer / fastloss"; ``disturbed``
    instead of a ratio when either measurement is, see :func:`row_disturbed`).  Every
    peer's column stays in the markdown file."""
    columns = peer_columns(result)
    header = ["workload", "size", "dtype", "threads", "fastloss", "best peer", "its time",
              "best / fastloss"]
    body = []
    for row in rows(result):
        fl_cell = row["cells"].get("fastloss")
        fl = _time(fl_cell)
        b = best_rival(row, columns)
        fl_text = (fmt_time(fl) + (DISTURBED if _disturbed(result, fl_cell) else "")
                   if fl is not None else _status_cell(fl_cell))
        if b is None:
            peer = peer_time = ratio = "-"
        else:
            peer = b[0]
            peer_time = fmt_time(b[1]) + (
                DISTURBED if _disturbed(result, row["cells"].get(b[0])) else "")
            ratio = ("-" if fl is None else "disturbed" if row_disturbed(result, row, b)
                     else _ratio(b[1] / fl))
        body.append([display_name(row["loss"]), _shape_label(row["shape"]), row["dtype"],
                     row["threads"], fl_text, peer, peer_time, ratio])
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    over = sum(widths) + 2 * (len(widths) - 1) - WIDTH
    if over > 0:                        # a long workload name is cut, not the table wrapped
        widths[0] = max(len(header[0]), widths[0] - over)
        for r in body:
            if len(r[0]) > widths[0]:
                r[0] = r[0][:widths[0] - 1] + "…"
    right = {4, 6, 7}                   # times and ratios are right-aligned

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths])] +
                     [line(r) for r in body])


def _plain(text):
    """Markdown prose as terminal text: no emphasis stars, no code backticks."""
    return text.replace("**", "").replace("`", "")


def _wrapped(lines, indent=""):
    out = []
    for text in lines:
        text = _plain(text).rstrip()
        first, rest = ("- ", "  ") if text.startswith("- ") else ("", indent)
        out += textwrap.wrap(text[len(first):] if first else text, WIDTH,
                             initial_indent=first, subsequent_indent=rest,
                             break_on_hyphens=False) or [""]
    return out


def _display_path(path):
    """``path`` as the user should read it: relative to the working directory when it is
    inside it, else relative to the repository root when it is inside the repository."""
    path = os.path.abspath(path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for base in (os.getcwd(), root):
        if os.path.commonpath([base, path]) == base:
            return os.path.relpath(path, base)
    return path


def terminal_text(result, out_dir, files):
    """What the run prints: the header, the compact table (or the catalogue's table), the
    notes, all within :data:`WIDTH` columns, and at the end the output folder and the
    files written there (``files``: paths relative to ``out_dir``)."""
    mode = result["mode"]
    title = {"quick": "Quick benchmark", "full": "Benchmark",
             "catalogue": "Catalogue benchmark"}.get(mode, "Benchmark")
    header = _header(result, f"fastloss: {title.lower()} against its peers")
    lines = _wrapped([header[0]] + header[2:], indent="    ")
    lines.append("")
    if mode == "catalogue":
        lines += _wrapped([
            "Median time of one call computing the mean loss and its gradients, fastloss "
            "against the NumPy formula and PyTorch; in brackets the peer's time over "
            "fastloss's (above 1: fastloss is faster)."])
        lines += ["", catalogue_table(result)]
    else:
        lines += _wrapped([
            "Median time of one call computing the mean loss and its gradient w.r.t. the "
            "prediction. best peer: the fastest peer that passed the correctness check; "
            "best / fastloss above 1: fastloss is faster. Every peer's time and the "
            f"bandwidth reference are in {mode}.md."])
        lines += ["", compact_table(result)]
    notes = _notes(result)
    if notes:
        lines += ["", "Notes:"] + _wrapped(notes)
    where = _display_path(out_dir)
    lines += ["", f"Wrote to {where}{os.sep}:"]
    lines += textwrap.wrap(", ".join(files), WIDTH, initial_indent="  ",
                           subsequent_indent="  ", break_on_hyphens=False)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------

PEER_COLORS = {"fastloss": "#d62728", "numpy": "#1f77b4", "torch": "#ff7f0e",
               "jax": "#2ca02c", "sklearn": "#9467bd", "numba": "#8c564b",
               REFERENCE: "#000000"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def bar_chart(result, loss, path):
    """Per workload: each peer's time / fastloss's time (log scale), one group of bars
    per (size, threads), one panel per dtype."""
    plt = _pyplot()
    columns = peer_columns(result) + [REFERENCE]
    rs = [r for r in rows(result) if r["loss"] == loss]
    dtypes = list(dict.fromkeys(r["dtype"] for r in rs))
    fig, axes = plt.subplots(1, len(dtypes), figsize=(7 * len(dtypes), 4.6), squeeze=False,
                             sharey=True)
    width = 0.8 / len(columns)
    for ax, dtype in zip(axes[0], dtypes):
        group = [r for r in rs if r["dtype"] == dtype]
        for j, peer in enumerate(columns):
            xs, ys = [], []
            for i, r in enumerate(group):
                fl, t = _time(r["cells"].get("fastloss")), _time(r["cells"].get(peer))
                if fl and t:
                    xs.append(i + (j - (len(columns) - 1) / 2) * width)
                    ys.append(t / fl)
            if not xs:                  # no such loss (n/a): no empty legend entry
                continue
            label = "bandwidth ref" if peer == REFERENCE else peer
            ax.bar(xs, ys, width, label=label, color=PEER_COLORS.get(peer),
                   hatch="//" if peer == REFERENCE else None,
                   alpha=0.5 if peer == REFERENCE else 0.9)
        ax.axhline(1.0, color=PEER_COLORS["fastloss"], lw=1.2, ls="--", label="fastloss")
        ax.set_yscale("log")
        ax.set_xticks(range(len(group)))
        ax.set_xticklabels([f"{_shape_label(r['shape'])}\n{r['threads']} thr" for r in group])
        ax.set_title(f"{display_name(loss)}, {dtype}")
        ax.grid(axis="y", which="both", alpha=0.3)
    axes[0][0].set_ylabel("time / fastloss time  (above 1: fastloss faster)")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def size_chart(result, threads, path):
    """Time per call against elements (log-log): one panel per (dtype, loss), one line per
    peer, the bandwidth reference dashed.  One row of panels per dtype; a single dtype (the
    quick run) is laid out three panels a row."""
    plt = _pyplot()
    columns = ["fastloss"] + peer_columns(result) + [REFERENCE]
    rs = [r for r in rows(result) if r["threads"] == threads]
    losses = list(dict.fromkeys(r["loss"] for r in rs))
    dtypes = list(dict.fromkeys(r["dtype"] for r in rs))
    panels = [(dtype, loss) for dtype in dtypes for loss in losses]
    ncols = len(losses) if len(dtypes) > 1 else min(3, len(losses))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for k, (dtype, loss) in enumerate(panels):
        b = k % ncols
        ax = axes[k // ncols][b]
        group = [r for r in rs if r["loss"] == loss and r["dtype"] == dtype]
        for peer in columns:
            pts = [(_size(r["shape"]), _time(r["cells"].get(peer))) for r in group]
            pts = [(x, t) for x, t in pts if t]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=4,
                        label="bandwidth ref" if peer == REFERENCE else peer,
                        color=PEER_COLORS.get(peer),
                        ls="--" if peer == REFERENCE else "-",
                        lw=2.2 if peer == "fastloss" else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{display_name(loss)}, {dtype}", fontsize=10)
        ax.set_xlabel("elements")
        ax.grid(which="both", alpha=0.3)
        if b == 0:
            ax.set_ylabel("seconds per call")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"loss + gradient time vs size, threads={threads}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(result, out_dir):
    """The PNGs of a full or quick run, in ``out_dir/plots``: a bar chart per loss and a
    time-vs-size chart per thread configuration, drawn from whatever rows the run has (the
    quick run: two sizes, one thread configuration).  The quick run's files are prefixed
    ``quick_`` so that both runs can share a folder.  Their paths relative to ``out_dir``."""
    plot_dir = os.path.join(out_dir, "plots")
    os.makedirs(plot_dir, exist_ok=True)
    prefix = "" if result["mode"] == "full" else f"{result['mode']}_"
    have = rows(result)
    made = []
    for loss in dict.fromkeys(r["loss"] for r in have):
        name = f"{prefix}bars_{loss}.png"
        bar_chart(result, loss, os.path.join(plot_dir, name))
        made.append(f"plots/{name}")
    for t in result["thread_configs"]:
        if not any(r["threads"] == t["label"] for r in have):
            continue
        name = f"{prefix}time_vs_size_threads_{t['label']}.png"
        size_chart(result, t["label"], os.path.join(plot_dir, name))
        made.append(f"plots/{name}")
    return made


def write_outputs(result, out_dir, plots=True, log=sys.stderr, out=sys.stdout):
    """Write ``<mode>.json`` and ``<mode>.md`` (the full tables) and the plots into
    ``out_dir``, and print :func:`terminal_text` to ``out``: the compact table, the notes,
    and the folder and files written.  The files' paths relative to ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    if plots:
        try:
            result["plots"] = write_plots(result, out_dir)
        except ImportError as exc:
            print(f"plots skipped: {exc}", file=log)
    mode = result["mode"]
    with open(os.path.join(out_dir, f"{mode}.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    with open(os.path.join(out_dir, f"{mode}.md"), "w") as f:
        f.write(markdown(result))
    files = [f"{mode}.md", f"{mode}.json"] + (result.get("plots", []) if plots else [])
    print(terminal_text(result, out_dir, files), file=out, flush=True)
    return files
