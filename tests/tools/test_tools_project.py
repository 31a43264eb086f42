"""How the command-line tools register a project before loading a config that is not a
run's: the project package of the current folder (`codes`, as train.py imports it, or the
one the caller names) and every --import module; a module that fails is one error."""
import sys

import pytest

from engine.tools.cli import PROJECT_PACKAGE, import_project
from engine.utils.errors import EngineError


@pytest.fixture
def project_folder(tmp_path, monkeypatch):
    """An empty current folder; sys.path and the modules imported from it are restored."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def package(folder, name, body):
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text(body)


def test_the_default_project_package_is_the_seed_layouts_codes():
    assert PROJECT_PACKAGE == "codes"


def test_the_named_project_package_of_the_current_folder_is_imported(project_folder):
    package(project_folder, "acme", "REGISTERED = True\n")
    import_project(package="acme")
    assert sys.modules["acme"].REGISTERED


def test_a_folder_without_the_project_package_is_fine(project_folder):
    import_project(package="acme")
    assert "acme" not in sys.modules


def test_a_project_package_that_fails_to_import_is_one_error(project_folder):
    package(project_folder, "acme", "import acme_missing_dependency\n")
    with pytest.raises(EngineError, match=r"importing acme \(the project in .*\): "
                                          r"No module named 'acme_missing_dependency'"):
        import_project(package="acme")


def test_every_import_module_is_imported_and_a_missing_one_is_one_error(project_folder):
    package(project_folder, "acme", "")
    package(project_folder, "acme_extra", "import acme\n")
    import_project(["acme_extra"], package=None)
    assert "acme_extra" in sys.modules
    with pytest.raises(EngineError, match=r"--import acme_nowhere: ModuleNotFoundError"):
        import_project(["acme_nowhere"], package=None)
