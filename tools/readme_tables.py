"""Render the README's generated tables, or check that they are up to date.

    python tools/readme_tables.py          # rewrite the tables in README.md
    python tools/readme_tables.py --check  # exit 1 if a table in README.md is stale

The loss table sits between the markers ``<!-- losses:begin -->`` and
``<!-- losses:end -->``.  Every column comes from the loss's registry entry: its name and
arrays (the family's inputs), its parameters and defaults, ``summary``, ``reference``, and
every name that ``fl.get`` resolves to it (aliases that set parameters say which).

The performance table sits between ``<!-- perf:begin -->`` and ``<!-- perf:end -->``: the
float32 rows of the committed full benchmark (``bench/results/full.md``), without the
scikit-learn and bandwidth-reference columns (both stay in full.md), so that the README can
only show what the committed results say.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- losses:begin -->", "<!-- losses:end -->"
PERF_BEGIN, PERF_END = "<!-- perf:begin -->", "<!-- perf:end -->"
FULL_RESULTS = os.path.join(ROOT, "bench", "results", "full.md")
PERF_COLUMNS = ("workload", "size", "threads", "fastloss", "numpy", "torch", "jax", "numba",
                "best peer / fastloss", "fastloss / bandwidth")


def _value(v):
    if isinstance(v, float) and v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:g}"
    return repr(v)


def render():
    """The Markdown table of every built-in loss, in catalogue order."""
    from fastloss import _registry as R
    lines = ["| name | parameters | per-sample loss (y = target, p = prediction, z = logit) "
             "| reference | aliases |", "|---|---|---|---|---|"]
    for spec in R.SPECS:
        if spec.kind == "custom":
            continue
        inputs = spec.family.inputs
        name = f"`{spec.name}`" if inputs == ("y_true", "y_pred") else \
            f"`{spec.name}({', '.join(inputs)})`"
        params = ", ".join(f"`{p.name}={_value(p.default)}`" for p in spec.params.values()) \
            or "–"
        aliases = [f"`{a}`" for a in spec.aliases]
        for alias, (target, implied) in R.ALIASES_WITH_PARAMS.items():
            if target == spec.name:
                sets = ", ".join(f"{k}={_value(v)}" for k, v in implied.items())
                aliases.append(f"`{alias}` (→ {sets})")
        lines.append(f"| {name} | {params} | {spec.summary} | {spec.reference} | "
                     f"{', '.join(aliases) or '–'} |")
    return "\n".join(lines)


def render_perf(path=FULL_RESULTS):
    """The README's performance table: full.md's float32 rows, PERF_COLUMNS only."""
    with open(path, encoding="utf-8") as fh:
        table = [line.strip() for line in fh if line.startswith("| workload |")
                 or (line.startswith("| ") and "---" not in line)]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    keep = [header.index(c) for c in PERF_COLUMNS]
    lines = ["| " + " | ".join(PERF_COLUMNS) + " |",
             "|---|---|---|" + "---:|" * (len(PERF_COLUMNS) - 3)]
    for line in table[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == len(header) and cells[header.index("dtype")] == "float32":
            lines.append("| " + " | ".join(cells[k] for k in keep) + " |")
    return "\n".join(lines)


def _between(text, begin, end, body):
    i, j = text.index(begin), text.index(end)
    return text[:i + len(begin)] + "\n" + body + "\n" + text[j:]


def replaced(text):
    """README text with the tables between their markers re-rendered."""
    text = _between(text, BEGIN, END, render())
    return _between(text, PERF_BEGIN, PERF_END, render_perf())


def main(argv):
    path = os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    new = replaced(text)
    if "--check" in argv:
        if new != text:
            print("a table in README.md is stale: run python tools/readme_tables.py")
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main(sys.argv[1:]))
