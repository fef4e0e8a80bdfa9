"""Generate pyauditor/_unicode_data.py (and the matching GraphemeBreakTest copy) from the UCD.

    python tools/gen_unicode_data.py --ucd DIR            # write both files
    python tools/gen_unicode_data.py --ucd DIR --check    # exit 1 if a committed file is stale

DIR is one release of the Unicode Character Database as the official text files, e.g. Debian's
``unicode-data`` package (/usr/share/unicode).  The files read are
auxiliary/GraphemeBreakProperty.txt, emoji/emoji-data.txt, DerivedCoreProperties.txt
(Indic_Conjunct_Break), PropList.txt (White_Space) and auxiliary/GraphemeBreakTest.txt, which is
copied verbatim to tests/data/.

The release must be the one the reference implementation uses: python-auditor 0.11.2 is built with
the Rust crate unicode-segmentation 1.13.3, which implements Unicode 17.0.0.  Debian 12 ships only
15.0; the 17.0.0 files come from Debian's unicode-data 17.0.0 package (sid), e.g.
``apt-get download unicode-data`` with a sid entry in a private sources list, then
``dpkg-deb -x unicode-data_17.0.0-*.deb DIR`` and ``--ucd DIR/usr/share/unicode``.

The output is deterministic: it depends only on the UCD files, and is passed through the ruff of the
environment running this script so that `ruff format --check` accepts it unchanged.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "pyauditor" / "_unicode_data.py"
TEST_DATA = ROOT / "tests" / "data"
MAX_CODE_POINT = 0x10FFFF

# One letter per combination of Grapheme_Cluster_Break, Extended_Pictographic and
# Indic_Conjunct_Break that the UAX #29 rules tell apart.  The rules never need more than one of
# these properties at a time (Extended_Pictographic and InCB=Consonant only occur on GCB=Other,
# InCB=Extend/Linker only on GCB=Extend or ZWJ), so a single class per code point suffices;
# combine() rejects any release where that stops being true.  pyauditor/_unicode.py spells its
# regular expressions with these letters.
CLASS_LETTERS: dict[str, str] = {
    "Other": "O",
    "CR": "r",
    "LF": "n",
    "Control": "C",
    "Extend": "E",
    "Extend+InCB=Extend": "e",
    "Extend+InCB=Linker": "k",
    "ZWJ": "Z",
    "Regional_Indicator": "R",
    "Prepend": "P",
    "SpacingMark": "S",
    "L": "L",
    "V": "V",
    "T": "T",
    "LV": "v",
    "LVT": "t",
    "Extended_Pictographic": "X",
    "InCB=Consonant": "c",
}


class UCD:
    """The few properties the generator needs, read from one UCD release."""

    def __init__(self, root: Path) -> None:
        self.root = root
        path = root / "auxiliary" / "GraphemeBreakProperty.txt"
        if not path.is_file():
            raise SystemExit(f"{root} does not hold the UCD text files ({path} is missing)")
        header = path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
        match = re.fullmatch(r"# GraphemeBreakProperty-(\d+\.\d+\.\d+)\.txt", header)
        if match is None:
            raise SystemExit(f"cannot read the Unicode version from {header!r}")
        self.version = match.group(1)

    def entries(self, name: str) -> Iterator[tuple[int, int, str, str | None]]:
        """Yield ``(first, last, property, value)`` for every data line of one UCD file.

        ``name`` is the file's path without ``.txt``.  ``value`` is None for binary properties.
        """
        for line in (self.root / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            data = line.split("#", 1)[0].strip()
            if not data:
                continue
            fields = [field.strip() for field in data.split(";")]
            first, _, last = fields[0].partition("..")
            value = fields[2] if len(fields) > 2 else None
            yield int(first, 16), int(last or first, 16), fields[1], value

    def test_file(self) -> str:
        """The official GraphemeBreakTest.txt, committed as tests/data/GraphemeBreakTest-<v>.txt."""
        return (self.root / "auxiliary" / "GraphemeBreakTest.txt").read_text(encoding="utf-8")


def combine(ucd: UCD) -> list[str]:
    """Return the class letter of every code point (index = code point)."""
    gcb = ["Other"] * (MAX_CODE_POINT + 1)
    for first, last, prop, _ in ucd.entries("auxiliary/GraphemeBreakProperty"):
        gcb[first : last + 1] = [prop] * (last - first + 1)
    pictographic = bytearray(MAX_CODE_POINT + 1)
    for first, last, prop, _ in ucd.entries("emoji/emoji-data"):
        if prop == "Extended_Pictographic":
            pictographic[first : last + 1] = b"\x01" * (last - first + 1)
    incb: dict[int, str] = {}
    for first, last, prop, value in ucd.entries("DerivedCoreProperties"):
        if prop == "InCB":
            if value is None:
                raise SystemExit(f"InCB without a value at U+{first:04X}")
            incb.update(dict.fromkeys(range(first, last + 1), value))

    classes = []
    for cp in range(MAX_CODE_POINT + 1):
        name = gcb[cp]
        extra = []
        if pictographic[cp]:
            extra.append("Extended_Pictographic")
        if cp in incb:
            extra.append(f"InCB={incb[cp]}")
        if not extra:
            key = name
        elif name == "Other" and len(extra) == 1 and extra[0] != "InCB=Extend":
            key = extra[0]
        elif name == "Extend" and extra in (["InCB=Extend"], ["InCB=Linker"]):
            key = f"Extend+{extra[0]}"
        elif name == "ZWJ" and extra == ["InCB=Extend"]:
            # ZWJ is always InCB=Extend; GB9c treats it like the other InCB=Extend marks.
            key = "ZWJ"
        else:
            raise SystemExit(
                f"U+{cp:04X} has GCB={name} together with {', '.join(extra)}: the single-class "
                "encoding of CLASS_LETTERS cannot express that; extend it and pyauditor/_unicode.py"
            )
        classes.append(CLASS_LETTERS[key])
    return classes


def white_space(ucd: UCD) -> str:
    chars = []
    for first, last, prop, _ in ucd.entries("PropList"):
        if prop == "White_Space":
            chars.extend(chr(cp) for cp in range(first, last + 1))
    return "".join(sorted(chars))


def render(ucd: UCD) -> str:
    classes = combine(ucd)
    names = {letter: name for name, letter in CLASS_LETTERS.items()}
    rows = []
    previous = ""
    for cp, letter in enumerate(classes):
        if letter != previous:
            rows.append(f"    0x{cp:06X}_{ord(letter):02X},  # U+{cp:04X} {names[letter]}\n")
            previous = letter
    spaces = "".join(f"\\u{ord(ch):04x}" if ord(ch) > 0x7E else ch for ch in white_space(ucd))
    spaces = spaces.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    spaces = spaces.replace("\x0b", "\\x0b").replace("\x0c", "\\x0c")
    letters = "".join(f'    "{letter}": "{name}",\n' for name, letter in CLASS_LETTERS.items())
    return (
        f"# Unicode {ucd.version} grapheme cluster and White_Space tables.\n"
        f"# Source: Unicode Character Database {ucd.version}, official text files.\n"
        f"# Generated by tools/gen_unicode_data.py, do not edit.\n"
        f'"""Unicode {ucd.version} tables for pyauditor._unicode (generated, do not edit)."""\n'
        "\n"
        "from typing import Final\n"
        "\n"
        f'UNICODE_VERSION: Final = "{ucd.version}"\n'
        "\n"
        "# Every code point with the White_Space property (PropList.txt), which is exactly what\n"
        "# Rust's str::trim strips.\n"
        f'WHITE_SPACE: Final = "{spaces}"\n'
        "\n"
        "# The class letter for each combination of Grapheme_Cluster_Break, Extended_Pictographic\n"
        "# and Indic_Conjunct_Break that UAX #29 distinguishes.\n"
        "CLASS_NAMES: Final = {\n"
        f"{letters}"
        "}\n"
        "\n"
        "# Runs of code points sharing one class: each entry is (first code point << 8) | ord(class\n"
        "# letter), and a run lasts until the next entry's first code point.  Sorted, so bisect on\n"
        "# (code point << 8) | 0xFF finds the run of any code point.\n"
        "CLASS_RUNS: Final[tuple[int, ...]] = (\n"
        f"{''.join(rows)}"
        ")\n"
    )


def ruff_format(text: str) -> str:
    bindir = Path(sys.executable).parent
    ruff = shutil.which("ruff", path=str(bindir)) or shutil.which("ruff")
    if ruff is None:
        raise SystemExit("ruff is needed to format the output: run inside the project's .venv")
    proc = subprocess.run(
        [ruff, "format", "--stdin-filename", str(OUTPUT.relative_to(ROOT)), "-"],
        input=text,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise SystemExit(f"ruff format failed:\n{proc.stderr}")
    return proc.stdout


def outputs(ucd: UCD) -> dict[Path, str]:
    return {
        OUTPUT: ruff_format(render(ucd)),
        TEST_DATA / f"GraphemeBreakTest-{ucd.version}.txt": ucd.test_file(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ucd", type=Path, required=True, help="one UCD release (see above)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    ucd = UCD(args.ucd)
    stale = 0
    wanted = outputs(ucd)
    for path, text in wanted.items():
        name = path.relative_to(ROOT)
        if args.check:
            have = path.read_text(encoding="utf-8") if path.exists() else ""
            if have != text:
                stale += 1
                sys.stdout.writelines(
                    difflib.unified_diff(
                        have.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        f"{name} (committed)",
                        f"{name} (fresh)",
                    )
                )
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name} (Unicode {ucd.version})")
    # A test file left from the previous Unicode version would be tested against new tables.
    for path in sorted(TEST_DATA.glob("GraphemeBreakTest-*.txt")):
        if path not in wanted:
            if args.check:
                stale += 1
                print(f"stale: {path.relative_to(ROOT)} is from another Unicode version")
            else:
                path.unlink()
                print(f"removed {path.relative_to(ROOT)}")
    if stale:
        print(f"\n{stale} file(s) differ from a fresh generation from {args.ucd}")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
