"""Two rules of the code's structure: tests mirror modules, and functions stay short.

Both read the checkout the tests run from (the repository root is this file's parent's parent),
never an installed copy. ``tests/README.md`` describes the mirror and holds its exceptions.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "tests" / "README.md"
MAX_BODY = 80
LONG_MARK = "# Long:"
SHORT_PACKAGES = ("harness", "leaderboard", "metrics")


def code_packages() -> list[str]:
    """The top-level code packages the wheel ships (``pyproject.toml``), assets aside."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["setuptools"]["packages"]
    return sorted({p.split(".")[0] for p in packages if "._assets" not in p})


def modules(packages: list[str] | tuple[str, ...]) -> list[Path]:
    """Every module of ``packages``, relative to the repository root."""
    found = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "__pycache__" not in relative.parts:
                found.append(relative)
    return found


def mirror_test(module: Path) -> Path:
    """Where the rule puts a module's tests (see tests/README.md).

    ``pkg/x.py`` and ``pkg/_x.py`` -> ``tests/pkg/test_x.py``; ``pkg/sub/__init__.py`` ->
    ``tests/pkg/sub/test_sub.py``.
    """
    name = module.parent.name if module.name == "__init__.py" else module.stem
    return Path("tests") / module.parent / f"test_{name.lstrip('_')}.py"


def readme_modules() -> list[str]:
    """The module of each row of the README's table of modules tested elsewhere."""
    section = README.read_text(encoding="utf-8").split("## Modules tested elsewhere", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    found = []
    for row in rows:
        match = re.match(r"\| `([^`]+)` \|", row)
        assert match, f"tests/README.md: a row's first cell is not one `path`: {row}"
        found.append(match.group(1))
    return found


def test_the_packages_are_found_in_the_checkout():
    # An empty list would make every other check here pass vacuously.
    assert {"common", "metrics", "leaderboard", "baselines", "harness"} <= set(code_packages())
    assert Path("harness/rounds/round.py") in modules(code_packages())


def test_the_mirror_rule_by_hand():
    assert mirror_test(Path("harness/split/manifest.py")) == Path(
        "tests/harness/split/test_manifest.py"
    )
    assert mirror_test(Path("metrics/_masks.py")) == Path("tests/metrics/test_masks.py")
    assert mirror_test(Path("harness/split/synth/__init__.py")) == Path(
        "tests/harness/split/synth/test_synth.py"
    )


def test_every_module_has_its_test_file_or_a_row_in_the_readme():
    listed = readme_modules()
    repeated = sorted({m for m in listed if listed.count(m) > 1})
    assert not repeated, f"tests/README.md lists these modules more than once: {repeated}"
    packages = code_packages()
    all_modules = modules(packages)
    missing = [
        f"{module} (expected {mirror_test(module)})"
        for module in all_modules
        if not (ROOT / mirror_test(module)).is_file() and module.as_posix() not in listed
    ]
    assert not missing, (
        "modules without a test file of their own and without a row in tests/README.md:\n  "
        + "\n  ".join(missing)
    )
    stale = [m for m in listed if Path(m) not in all_modules]
    assert not stale, (
        f"tests/README.md lists modules that are not modules of {packages}:\n  "
        + "\n  ".join(stale)
    )
    tested = [m for m in listed if (ROOT / mirror_test(Path(m))).is_file()]
    assert not tested, (
        "tests/README.md lists modules that have their own test file (remove their rows):\n  "
        + "\n  ".join(tested)
    )
    # Two modules whose tests the rule puts in one file would share it unawares.
    claimed: dict[Path, list[str]] = {}
    for module in all_modules:
        claimed.setdefault(mirror_test(module), []).append(module.as_posix())
    shared = {str(test): found for test, found in claimed.items() if len(found) > 1}
    assert not shared, f"modules whose tests the rule puts in one file: {shared}"


def body_length(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the function's last line."""
    body = function.body
    first = body[0]
    is_docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    if is_docstring and len(body) > 1:
        first = body[1]
    elif is_docstring:
        return 0
    return function.end_lineno - first.lineno + 1


def marked_long(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> bool:
    """Whether the comment block right above the function (above its decorators) says why.

    The comment may run over several lines; one of them starts with ``# Long:``.
    """
    top = min([function.lineno] + [d.lineno for d in function.decorator_list])
    index = top - 2  # the line above, 0-based
    while index >= 0 and lines[index].strip().startswith("#"):
        if lines[index].strip().startswith(LONG_MARK):
            return True
        index -= 1
    return False


def long_functions(source: str, where: str) -> list[str]:
    """``where:line function (N lines)`` for each function over the limit and not marked."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        length = body_length(node)
        if length > MAX_BODY and not marked_long(node, lines):
            found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_the_length_rule_by_hand():
    long_body = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY + 1))
    source = f'def f():\n    """Doc\n\n    string."""\n{long_body}\n'
    assert long_functions(source, "m.py") == [f"m.py:1 f ({MAX_BODY + 1} lines)"]
    at_limit = "\n".join(f"    x{i} = {i}" for i in range(MAX_BODY))
    assert long_functions(f'def f():\n    """Doc."""\n{at_limit}\n', "m.py") == []
    marked = f"# Long: one table, one row per line.\n@decorator\ndef f():\n{long_body}\n"
    assert long_functions(marked, "m.py") == []
    wrapped = f"# Long: one table,\n# one row per line.\ndef f():\n{long_body}\n"
    assert long_functions(wrapped, "m.py") == []
    apart = f"# Long: one table, one row per line.\n\ndef f():\n{long_body}\n"
    assert long_functions(apart, "m.py") == ["m.py:3 f (81 lines)"]
    nested = f"def outer():\n    def inner():\n{long_body.replace('    ', '        ')}\n"
    assert long_functions(nested, "m.py") == [
        f"m.py:1 outer ({MAX_BODY + 2} lines)",
        f"m.py:2 inner ({MAX_BODY + 1} lines)",
    ]


def test_no_function_is_longer_than_the_limit_without_saying_why():
    found = []
    for module in modules(SHORT_PACKAGES):
        found += long_functions((ROOT / module).read_text(encoding="utf-8"), module.as_posix())
    assert not found, (
        f"functions whose body (docstring excluded) is over {MAX_BODY} lines; split them into "
        f"named steps, or say why above the def in a comment starting with {LONG_MARK!r}:\n  "
        + "\n  ".join(found)
    )


def _import_groups(body: list[ast.stmt]) -> list[list[ast.stmt]]:
    """Runs of consecutive import statements in one block of statements."""
    groups: list[list[ast.stmt]] = []
    run: list[ast.stmt] = []
    for statement in body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            run.append(statement)
            continue
        if run:
            groups.append(run)
        run = []
    if run:
        groups.append(run)
    return groups


def unexplained_imports(source: str, where: str) -> list[str]:
    """``where:line`` of each run of imports inside a function with no comment saying why.

    A run is explained by a comment on the line right above its first import, or on one of its
    lines.
    """
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            blocks = [getattr(node, name, None) for name in ("body", "orelse", "finalbody")]
            blocks += [handler.body for handler in getattr(node, "handlers", [])]
            for block in blocks:
                if not isinstance(block, list) or not block or not isinstance(block[0], ast.stmt):
                    continue
                for run in _import_groups(block):
                    first, last = run[0].lineno, run[-1].end_lineno or run[-1].lineno
                    above = lines[first - 2].strip() if first >= 2 else ""
                    inline = any("#" in lines[i - 1] for i in range(first, last + 1))
                    if not (above.startswith("#") or inline):
                        found.append(f"{where}:{first}")
    return sorted(set(found), key=lambda s: (s.split(":")[0], int(s.split(":")[1])))


def test_the_import_rule_by_hand():
    bare = "def f():\n    import json\n\n    return json\n"
    assert unexplained_imports(bare, "m.py") == ["m.py:2"]
    said = "def f():\n    # json is slow to import here.\n    import json\n    import os\n"
    assert unexplained_imports(said, "m.py") == []
    inline = "def f():\n    import json  # a cycle\n"
    assert unexplained_imports(inline, "m.py") == []
    nested = "def f():\n    if x:\n        from a import b\n"
    assert unexplained_imports(nested, "m.py") == ["m.py:3"]
    assert unexplained_imports("import json\n\ndef f():\n    return json\n", "m.py") == []


def test_imports_inside_functions_say_why():
    # An import inside a function hides a dependency from the top of the module: it stays only
    # for a reason (a heavy or optional library, a cycle, the CLI's start-up), written above it.
    found = []
    for module in modules(code_packages()):
        source = (ROOT / module).read_text(encoding="utf-8")
        found += unexplained_imports(source, module.as_posix())
    assert not found, (
        "imports inside functions with no comment above saying why (move them to the top, or "
        "say why):\n  " + "\n  ".join(found)
    )


def second_paths(source: str, where: str, owners: dict[str, str]) -> list[str]:
    """``where:line name from module`` for each name imported from a module that does not define it.

    ``owners`` maps a name to the one module it is imported from.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                owner = owners.get(alias.name)
                if owner is not None and node.module != owner:
                    found.append(f"{where}:{node.lineno} {alias.name} from {node.module}")
    return found


def test_each_error_class_has_one_import_path():
    # harness.errors adds the harness's kinds to common's tree; a class of common's imported
    # through harness.errors would have two homes.
    import common.errors
    import harness.errors

    owners = {
        name: module.__name__
        for module in (common.errors, harness.errors)
        for name, value in vars(module).items()
        if isinstance(value, type) and value.__module__ == module.__name__
    }
    assert {"ConfigError", "Selma3dError", "EngineError", "VolumeError"} <= set(owners)
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or "__pycache__" in relative.parts:
            continue
        found += second_paths(path.read_text(encoding="utf-8"), relative.as_posix(), owners)
    assert not found, "error classes imported from a module that does not define them:\n  " + (
        "\n  ".join(found)
    )
    assert not set(harness.errors.__all__) & set(vars(common.errors)), harness.errors.__all__
