"""README's "How it works" names real files: each path it quotes exists in the repository."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_how_it_works_names_files_that_exist():
    text = (ROOT / "README.md").read_text()
    section = text.split("## How it works", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`((?:physcall|csrc|stubs|bench|tests|docs|examples)/[^`*]*)`", section)
    assert len(named) >= 10
    missing = [p for p in named if not (ROOT / p).exists()]
    assert missing == []
    for bare in re.findall(r"`(\w+\.py)`", section):     # `hazards.py` beside physcall/emulator/...
        assert list(ROOT.glob("physcall/**/" + bare)), bare
