"""Every install line of the README (and of the library's own messages) names this distribution.

PyPI's ``wsgisession`` is an unrelated project of 2013: a line that says ``pip install
'wsgisession[flask]'`` installs it, and ``import wsgisession`` then fails. So each ``pip
install`` the README shows installs the clone (``.``, ``-e .``) or the distribution's own name,
with extras that setup.cfg declares.
"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUP = configparser.ConfigParser()
SETUP.read(ROOT / "setup.cfg", encoding="utf-8")
NAME = SETUP["metadata"]["name"]
EXTRAS = set(SETUP["options.extras_require"])


def install_targets(text: str) -> list[str]:
    """The requirement arguments of every ``pip install`` in ``text``'s code (inline, or a block's
    lines): flags, ``-r`` files and comments left out."""
    blocks = "\n".join(re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M))
    code = re.findall(r"`([^`\n]*pip install[^`]*)`", text) + re.findall(r"^.*pip install.*$", blocks, re.M)
    targets = []
    for snippet in code:
        command = snippet[snippet.index("pip install") + len("pip install"):].split("&&")[0].split("#")[0]
        words = shlex.split(command.replace("\n", " "))
        for previous, word in zip(["", *words], words):
            if not word.startswith("-") and previous not in ("-r", "--requirement"):
                targets.append(word)
    return sorted(set(targets))


def test_the_distribution_is_not_pypis_other_wsgisession():
    assert NAME == "wsgisession-express"
    assert SETUP["options.packages.find"]["include"].startswith("wsgisession,")  # the import name stays


README_TARGETS = install_targets((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_has_install_lines():
    assert len(README_TARGETS) >= 6


@pytest.mark.parametrize("target", README_TARGETS)
def test_each_readme_install_line_installs_this_distribution(target):
    name, _, extras = target.partition("[")
    assert name in (".", NAME), f"README: pip install {target!r} would not install {NAME}"
    assert set(extras.rstrip("]").split(",")) - {""} <= EXTRAS, f"README: unknown extra in {target!r}"


def test_the_library_names_this_distribution_when_an_extra_is_missing():
    messages = [path for path in (ROOT / "wsgisession").rglob("*.py")
                if re.search(r"pip install '(?!wsgisession-express\[)[\w-]+\[", path.read_text(encoding="utf-8"))]
    assert messages == []
