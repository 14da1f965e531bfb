"""The twin language: the cipher, its commutation with pre-processing, and the study's data directory."""

from __future__ import annotations

import json
import string

import pytest

from xlm_hf.config.sections import TwinConfig
from xlm_hf.errors import ConfigError, DataError
from xlm_hf.reproduce.twin import commutation_check, commutes, decipher, encipher, make_twin_data
from xlm_hf.text.pretokenize import pretokenize, rules_language


def test_the_cipher_maps_every_letter_and_digit_one_to_one_and_keeps_case():
    plain = string.ascii_letters + string.digits
    secret = encipher(plain)
    assert len(set(secret)) == len(plain) == len(secret)  # a bijection on the alphabet
    assert not set(secret) & set(plain)
    assert decipher(secret) == plain
    assert encipher("A").lower() == encipher("a")  # lowercasing commutes with the cipher
    # H is the 8th letter: Armenian capital 0x531 + 7; punctuation and spaces are left alone
    assert encipher("Hello, world! (42)") == "Ըելլկ, շկղլդ! (৪২)"


def test_accents_are_dropped_so_that_accent_removal_commutes():
    assert encipher("café naïve") == encipher("cafe naive")
    assert decipher(encipher("Boötis")) == "Bootis"


def test_twin_takes_the_english_moses_rules():
    assert rules_language("twin") == "en" and rules_language("fr") == "fr"
    # English splits "don't" as "don 't"; a language without English rules would give "don ' t"
    assert pretokenize(encipher("don't"), "twin") == [encipher("don"), encipher("'t")]


@pytest.mark.parametrize(
    "line",
    ["The house is red.", "Don't stop: 1,000 people came (in 2019)!", "Vega's spectral class is A0-F0."],
)
def test_pre_processing_commutes_with_enciphering(line):
    assert commutes(line)


def test_an_english_non_breaking_prefix_does_not_commute_and_is_counted():
    # "Mr." keeps its full stop in English; the enciphered word is no prefix, so Moses splits it
    assert not commutes("Mr. Smith arrived.")
    check = commutation_check(["Mr. Smith arrived.", "The house is red.", "It rains."])
    assert check["lines"] == 3 and check["not_commuting"] == 1
    assert check["share_not_commuting"] == pytest.approx(1 / 3)
    assert check["examples"] == ["Mr. Smith arrived."]


def _english(tmp_path, n=60, name="en.txt"):
    path = tmp_path / name
    # distinct lines, a duplicate and a line without letters (both dropped)
    path.write_text(
        "".join(f"Line number {i} says hello.\n" for i in range(n)) + "Line number 0 says hello.\n123\n"
    )
    return path


def _xnli(tmp_path):
    path = tmp_path / "en.tsv"
    path.write_text(
        "A man sleeps.\tA person rests.\tentailment\nThe dog runs.\tNo dog runs.\tcontradiction\n"
    )
    return path


def test_the_data_directory_gives_every_line_one_role(tmp_path):
    config = TwinConfig(
        english=[str(_english(tmp_path))], heldout_lines=10, tlm_lines=20, xnli_dev=str(_xnli(tmp_path))
    )
    out = tmp_path / "data"
    record = make_twin_data(config, out)
    read = {
        name: (out / name).read_text(encoding="utf-8").splitlines()
        for name in (
            "mono/en.txt",
            "mono/twin.txt",
            "para/en-twin.en",
            "para/en-twin.twin",
            "heldout/en.txt",
            "heldout/twin.txt",
        )
    }
    assert record["lines"] == {"mono_en": 15, "mono_twin": 15, "para": 20, "heldout": 10, "xnli_dev": 2}
    roles = [
        read["mono/en.txt"],
        [decipher(x) for x in read["mono/twin.txt"]],
        read["para/en-twin.en"],
        read["heldout/en.txt"],
    ]
    everything = [line for role in roles for line in role]
    assert len(everything) == len(set(everything)) == 60  # disjoint, and every distinct line used
    assert read["para/en-twin.twin"] == [encipher(x) for x in read["para/en-twin.en"]]
    assert read["heldout/twin.txt"] == [encipher(x) for x in read["heldout/en.txt"]]
    twin_rows = (out / "xnli/dev/twin.tsv").read_text(encoding="utf-8").splitlines()
    assert twin_rows[1] == "\t".join([encipher("The dog runs."), encipher("No dog runs."), "contradiction"])
    assert (out / "xnli/dev/en.tsv").read_text() == _xnli(tmp_path).read_text()
    assert json.loads((out / "twin_data.json").read_text())["commutation"]["lines"] == 15 + 20 + 10


def test_the_split_depends_on_the_seed_only(tmp_path):
    english = [str(_english(tmp_path))]
    first = make_twin_data(TwinConfig(english=english, heldout_lines=10, tlm_lines=20), tmp_path / "a")
    make_twin_data(TwinConfig(english=english, heldout_lines=10, tlm_lines=20), tmp_path / "b")
    make_twin_data(TwinConfig(english=english, heldout_lines=10, tlm_lines=20, seed=1), tmp_path / "c")
    held = {d: (tmp_path / d / "heldout/en.txt").read_text() for d in "abc"}
    assert held["a"] == held["b"] != held["c"]
    assert first["lines"]["heldout"] == 10


def test_too_little_text_is_refused_and_nothing_is_written(tmp_path):
    config = TwinConfig(english=[str(_english(tmp_path, n=20))], heldout_lines=10, tlm_lines=20)
    with pytest.raises(DataError, match=r"^study\.twin\.english: 20 distinct lines, fewer than the 32"):
        make_twin_data(config, tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_the_section_names_a_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^study\.twin\.english: no file .*missing\.txt"):
        TwinConfig(english=[str(tmp_path / "missing.txt")])
    with pytest.raises(ConfigError, match=r"^study\.twin\.xnli_dev: no file"):
        TwinConfig(english=[str(_english(tmp_path))], xnli_dev=str(tmp_path / "dev.tsv"))
