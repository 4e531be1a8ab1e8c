"""Every role follows the collection's conventions (checked for each role that exists).

- meta/argument_specs.yml is the one source of the role's variables;
- defaults/main.yml holds exactly the spec's defaults, with the same values;
- every variable is named tracefleet_<role>_*;
- README.md is the one tools/role_readme.py generates from the spec;
- a Molecule scenario molecule/<role> exists.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()) if (REPO / "roles").is_dir() else []


def _spec(role):
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]


def _defaults(role):
    path = REPO / "roles" / role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@pytest.mark.parametrize("role", ROLES)
def test_spec_exists_and_names_are_prefixed(role):
    options = _spec(role)["options"]
    prefix = f"tracefleet_{role}_"
    assert [name for name in options if not name.startswith(prefix)] == []


@pytest.mark.parametrize("role", ROLES)
def test_defaults_mirror_the_spec(role):
    options = _spec(role)["options"]
    spec_defaults = {name: opt["default"] for name, opt in options.items() if "default" in opt}
    defaults = _defaults(role)
    assert sorted(set(defaults) - set(options)) == [], "defaults/main.yml sets variables the spec does not declare"
    assert defaults == spec_defaults


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_described(role):
    options = _spec(role)["options"]
    assert [name for name, opt in options.items() if not opt.get("description")] == []


@pytest.mark.parametrize("role", ROLES)
def test_role_has_a_molecule_scenario(role):
    assert (REPO / "molecule" / role / "molecule.yml").is_file()


def test_role_readmes_are_generated_from_the_specs():
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "role_readme.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
