"""A Python process in which some top-level modules cannot be imported, as where they are not installed.

``python -m tests.support.blocked_imports MODULES -- ARGS``: blocks ``MODULES`` (comma-separated),
then runs ``python ARGS`` (``-c CODE``, ``-m MODULE ...`` or ``SCRIPT ...``) in this process.
"""
import importlib.abc
import runpy
import sys


class BlockedImports(importlib.abc.MetaPathFinder):
    """A meta-path finder that answers every import of the blocked modules (and their submodules)
    with ModuleNotFoundError, as Python does for a module that is not installed."""

    def __init__(self, modules):
        self.modules = frozenset(modules)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.modules:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked)", name=fullname)
        return None


def block(modules) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in modules:
            del sys.modules[name]
    sys.meta_path.insert(0, BlockedImports(modules))


def command(modules, *args) -> list:
    """The argv that runs ``python *args`` with ``modules`` blocked (use with cwd on a sys.path where tests/ is found)."""
    return [sys.executable, "-m", "tests.support.blocked_imports", ",".join(modules), "--", *args]


def main(argv) -> None:
    modules, separator, *args = argv
    assert separator == "--", "usage: python -m tests.support.blocked_imports MODULES -- ARGS"
    block(modules.split(","))
    if args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    elif args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(args)
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
