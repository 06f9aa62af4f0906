"""Render the README's loss table from the registry, or check that it is up to date.

    python tools/readme_tables.py          # rewrite the table in README.md
    python tools/readme_tables.py --check  # exit 1 if README.md's table is stale

The table sits between the markers ``<!-- losses:begin -->`` and ``<!-- losses:end -->``.
Every column comes from the loss's registry entry: its name and arrays (the family's
inputs), its parameters and defaults, ``summary``, ``reference``, and every name that
``fl.get`` resolves to it (aliases that set parameters say which).
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- losses:begin -->", "<!-- losses:end -->"


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


def replaced(text):
    """README text with the table between the markers re-rendered."""
    i, j = text.index(BEGIN), text.index(END)
    return text[:i + len(BEGIN)] + "\n" + render() + "\n" + text[j:]


def main(argv):
    path = os.path.join(ROOT, "README.md")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    new = replaced(text)
    if "--check" in argv:
        if new != text:
            print("README.md's loss table is stale: run python tools/readme_tables.py")
            return 1
        return 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(new)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    sys.exit(main(sys.argv[1:]))
