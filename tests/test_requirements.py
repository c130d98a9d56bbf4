"""tests/unit/requirements.txt (what ansible-test units installs) pins what requirements.txt pins."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {name.lower(): version for name, _, version in (line.partition("==") for line in lines if line)}


def test_unit_test_requirements_are_pinned_as_the_project_pins_them():
    project = pins(REPO_ROOT / "requirements.txt")
    units = pins(REPO_ROOT / "tests" / "unit" / "requirements.txt")
    assert units and all(version for version in units.values()), units
    assert {name: project.get(name) for name in units} == units
