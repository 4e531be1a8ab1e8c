"""Generate roles/<role>/README.md from the role's meta/argument_specs.yml (the one source of its variables).

    python tools/role_readme.py            # rewrite every role's README
    python tools/role_readme.py --check    # exit 1 when a README is out of date (tests run this)

Prose about the role belongs in the spec's `description` (a list of paragraphs); the variable
table comes from `options`.
"""

import argparse
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[1] / "roles"


def _cell(value) -> str:
    text = " ".join(value) if isinstance(value, list) else str(value)
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _default(option: dict) -> str:
    if "default" not in option:
        return "**required**" if option.get("required") else ""
    return f"`{yaml.safe_dump(option['default'], default_flow_style=True, width=10**6).strip().removesuffix('...').strip()}`"


def render(role_dir: Path) -> str:
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    lines = [f"# Role `tracefleet.otel.{role_dir.name}`", "", _cell(spec.get("short_description", "")), ""]
    for paragraph in spec.get("description", []) if isinstance(spec.get("description"), list) else [spec.get("description", "")]:
        if paragraph:
            lines += [paragraph.strip(), ""]
    lines += ["## Variables", "", "| variable | type | default | description |", "|---|---|---|---|"]
    for name, option in spec.get("options", {}).items():
        kind = option.get("type", "str")
        if option.get("choices"):
            kind += " (" + ", ".join(f"`{c}`" for c in option["choices"]) + ")"
        lines.append(f"| `{name}` | {kind} | {_default(option)} | {_cell(option.get('description', ''))} |")
    lines += ["", "_Generated from `meta/argument_specs.yml` by `tools/role_readme.py`; edit the spec, not this file._", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for role_dir in sorted(spec.parents[1] for spec in ROLES.glob("*/meta/argument_specs.yml")):
        text = render(role_dir)
        readme = role_dir / "README.md"
        if readme.exists() and readme.read_text() == text:
            continue
        if args.check:
            stale.append(str(readme))
        else:
            readme.write_text(text)
            print(f"wrote {readme}")
    if stale:
        print("out of date (run python tools/role_readme.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
