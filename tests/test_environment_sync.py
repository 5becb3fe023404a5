"""environment.yml (conda users) must list the same dependencies as pyproject.toml."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    # "pandas>=2" -> "pandas"; names compare case-insensitively with - and _ alike (PEP 503)
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        wanted |= {_name(d) for d in extra}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip_section = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_section and "-e ." in pip_section[0]["pip"], "environment.yml must install the package with pip: -e ."

    assert conda - wanted == set(), f"in environment.yml but not pyproject.toml: {sorted(conda - wanted)}"
    assert wanted - conda == set(), f"in pyproject.toml but not environment.yml: {sorted(wanted - conda)}"


def test_lock_pins_every_dependency():
    """requirements.lock (what `make` installs from) pins every declared dependency exactly."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(d) for d in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {_name(d) for d in extra}
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pinned[_name(name)] = version
    assert names - set(pinned) == set(), f"not pinned in requirements.lock: {sorted(names - set(pinned))}"
