"""The lane configuration: schema, loading, rendered defaults and docs, and ``sco config``."""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk import config_cli
from kiosk.config import (
    ConfigFileError,
    KioskConfig,
    load_config,
    parse_config_text,
    render_default_config,
    render_markdown_reference,
)
from kiosk.config_schema import (
    SECTIONS,
    ConfigProblem,
    Field,
    SecretRef,
    Section,
    register_section,
    validate,
)
from kiosk.core.settings import CoreSettings, SecuritySettings
from kiosk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def problems_of(text: str) -> list[str]:
    """Every problem of a TOML text, as "path: message" lines."""
    with pytest.raises(ConfigFileError) as caught:
        parse_config_text(text, "lane.toml")
    assert isinstance(caught.value, ConfigError)
    return [str(p) for p in caught.value.problems]


# A throwaway adapter section with a secret; tests add it to SECTIONS and remove it after.
BROKER = Section(
    "testbroker",
    "a broker used only by these tests",
    (
        Field("host", str, "localhost", "broker host name"),
        Field("password", str, None, "broker password", secret=True),
    ),
)


@pytest.fixture
def secret_section(monkeypatch: pytest.MonkeyPatch) -> Iterator[Section]:
    monkeypatch.setitem(SECTIONS, BROKER.name, BROKER)
    yield BROKER


# --- loading ---------------------------------------------------------------------------------


def test_defaults_load() -> None:
    config = load_config(None)
    assert (config.kiosk_id, config.store_id) == ("lane-01", "store-01")
    assert (config.default_language, config.data_dir) == ("en", "var/opensco")
    assert (config.catalog_path, config.log_level, config.log_file) == (
        "examples/catalog.csv",
        "INFO",
        "",
    )
    assert config.core_settings() == CoreSettings()
    assert config == parse_config_text("")


def test_example_config_loads() -> None:
    config = load_config(ROOT / "examples" / "kiosk.toml")
    assert config.kiosk_id == "lane-03"
    assert config.default_language == "zh"
    settings = config.core_settings(journal_id="j-7")
    assert (settings.kiosk_id, settings.store_id, settings.journal_id) == (
        "lane-03",
        config.store_id,
        "j-7",
    )
    assert settings.same_code_timeout_ms == 1000
    assert isinstance(settings.embedded_rules, tuple)


def test_checkout_covers_every_core_setting() -> None:
    core_fields = {f.name for f in dataclasses.fields(CoreSettings)}
    checkout = {f.name for f in SECTIONS["checkout"].fields}
    # training is the lane's mode, set in [kiosk] (kiosk.config), not a checkout rule.
    lane_wide = {"kiosk_id", "store_id", "journal_id", "security", "training"}
    assert checkout == core_fields - lane_wide
    security = {f.name for f in SECTIONS["security"].fields}
    assert security == {f.name for f in dataclasses.fields(SecuritySettings)}


def test_every_setting_can_be_set(tmp_path: Path) -> None:
    path = tmp_path / "lane.toml"
    path.write_text(
        '[kiosk]\nid = "lane-9"\nstore = "s-2"\n[checkout]\ncurrency = "EUR"\n'
        'embedded_rules = []\nsame_code_timeout_ms = 0\n[logging]\nlevel = "DEBUG"\n',
        encoding="utf-8",
    )
    config = load_config(str(path))
    assert (config.kiosk_id, config.store_id, config.log_level) == ("lane-9", "s-2", "DEBUG")
    settings = config.core_settings()
    assert (settings.currency, settings.embedded_rules) == ("EUR", ())
    assert settings.same_code_timeout_ms == 0


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "lane.toml"
    path.write_bytes(b'\xef\xbb\xbf[kiosk]\nid = "lane-7"\n')
    assert load_config(path).kiosk_id == "lane-7"


# --- problems, one table -----------------------------------------------------------------------

CASES: list[tuple[str, str, str]] = [
    (
        "unknown section",
        "[chekout]\n",
        "chekout: unknown section [chekout]; did you mean [checkout]?",
    ),
    (
        "unknown key with suggestion",
        "[checkout]\nsame_code_timout_ms = 5\n",
        'checkout.same_code_timout_ms: unknown key "same_code_timout_ms"; '
        'did you mean "same_code_timeout_ms"?',
    ),
    (
        "key in the wrong section",
        '[checkout]\nstore = "s-1"\n',
        'checkout.store: unknown key "store"; it belongs in [kiosk]',
    ),
    (
        "key above every section",
        'id = "lane-02"\n',
        'id: key "id" is outside any section; move it under [kiosk]',
    ),
    (
        "bool for int",
        "[checkout]\nsame_code_timeout_ms = true\n",
        "checkout.same_code_timeout_ms: must be a whole number; got true (true/false)",
    ),
    (
        "quoted number",
        '[checkout]\ncurrency_exponent = "2"\n',
        'checkout.currency_exponent: must be a whole number; got "2" (text); '
        "write it without quotes",
    ),
    (
        "float for int",
        "[checkout]\nabandon_after_ms = 300000.0\n",
        "checkout.abandon_after_ms: must be a whole number; got 300000.0 (a number)",
    ),
    (
        "out of bounds",
        "[checkout]\nsame_code_timeout_ms = 99999\n",
        "checkout.same_code_timeout_ms: must be between 0 and 10000 (milliseconds a repeat of "
        "the same barcode counts as one scan); got 99999",
    ),
    (
        "list item of the wrong type",
        '[checkout]\nembedded_rules = ["21.....{NNDDD}", 23]\n',
        "checkout.embedded_rules: item 2: must be text in quotes; got 23 (a whole number)",
    ),
    (
        "bad choice",
        '[kiosk]\ndefault_language = "fr"\n',
        'kiosk.default_language: must be one of "en", "zh" (language of the welcome screen); '
        'got "fr"',
    ),
    (
        "choice in the wrong case",
        '[logging]\nlevel = "debug"\n',
        'logging.level: must be one of "DEBUG", "INFO", "WARNING", "ERROR" (least important '
        'messages that are still logged); got "debug"; did you mean "DEBUG"?',
    ),
    (
        "bad kiosk id",
        '[kiosk]\nid = "Lane 01"\n',
        'kiosk.id: must be 1 to 32 lowercase letters, digits or "-" (name of this lane; it '
        'becomes the MQTT client id); got "Lane 01"',
    ),
    (
        "kiosk id too long",
        f'[kiosk]\nid = "{"a" * 33}"\n',
        "kiosk.id: must be 1 to 32 lowercase letters",
    ),
    (
        "empty store",
        '[kiosk]\nstore = ""\n',
        'kiosk.store: must be 1 to 32 lowercase letters, digits or "-"',
    ),
    (
        "bad currency",
        '[checkout]\ncurrency = "rmb"\n',
        "checkout.currency: must be a three-letter ISO 4217 code",
    ),
    (
        "section given as a value",
        "catalog = 3\n",
        "catalog: must be a section: write [catalog] on its own line",
    ),
    (
        "produce weights crossed",
        "[checkout]\nmin_produce_weight_g = 900\nmax_produce_weight_g = 800\n",
        "checkout.min_produce_weight_g: must be below max_produce_weight_g (800); got 900",
    ),
    (
        "invalid TOML names the line",
        '[kiosk]\nid = "lane-01"\nstore lane\n',
        "not valid TOML: Expected '=' after a key in a key/value pair (at line 3, column 7)",
    ),
    (
        "duplicate key is a TOML error",
        '[kiosk]\nid = "a"\nid = "b"\n',
        "not valid TOML: Cannot overwrite a value (at line 3",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problem_is_reported(text: str, expected: str) -> None:
    found = problems_of(text)
    assert len(found) == 1, found
    assert found[0].startswith(expected)


def test_every_problem_is_reported_at_once() -> None:
    text = '[kiosk]\nid = "X"\n[checkout]\nsame_code_timeout_ms = -1\n[nope]\n'
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "lane.toml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "lane.toml: 3 configuration problems:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "kiosk.id",
        "checkout.same_code_timeout_ms",
        "nope",
    ]


def test_validate_keeps_good_values_and_defaults_bad_ones() -> None:
    values, problems = validate({"checkout": {"same_code_timeout_ms": 5, "currency": 7}})
    assert values["checkout"]["same_code_timeout_ms"] == 5
    assert values["checkout"]["currency"] == "CNY"
    assert problems == [ConfigProblem("checkout.currency", problems[0].message)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [("does-not-exist.toml", "configuration file not found"), (".", "cannot read")],
)
def test_unusable_file(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / name)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / name))


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "lane.toml"
    path.write_bytes(b'[kiosk]\nid = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


def test_config_error_survives_pickling() -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config_text("[nope]\n", "lane.toml")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.source, copy.problems, str(copy)) == (
        "lane.toml",
        caught.value.problems,
        str(caught.value),
    )


# --- registry and secrets ----------------------------------------------------------------------


def test_register_section_rejects_duplicates() -> None:
    with pytest.raises(RuntimeError, match="duplicate config section 'checkout'"):
        register_section(Section("checkout", "again", ()))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: Field("n", int, 50, "x", minimum=0, maximum=10), "between 0 and 10"),
        (lambda: Field("n", int, True, "x"), "whole number"),
        (lambda: Field("n", dict, {}, "x"), "unsupported type"),
        (lambda: Field("Bad", int, 1, "x"), "snake_case"),
        (lambda: Field("pw", str, "hunter2", "x", secret=True), "default None"),
        (lambda: Section("s", "x", (Field("a", int, 1, "x"), Field("a", int, 2, "y"))), "dup"),
    ],
)
def test_schema_mistakes_fail_at_definition(make: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make()


def test_registered_section_is_validated_and_kept(secret_section: Section) -> None:
    config = parse_config_text('[testbroker]\nhost = "mqtt.local"\n')
    assert config.sections["testbroker"] == {"host": "mqtt.local", "password": None}
    assert isinstance(config, KioskConfig)


def test_literal_secret_is_rejected_without_echoing_it(secret_section: Section) -> None:
    (problem,) = problems_of('[testbroker]\npassword = "hunter2"\n')
    assert problem.startswith("testbroker.password: secrets are never written in this file")
    assert 'password_env = "ENV_VAR_NAME"' in problem
    assert "hunter2" not in problem


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('password_env = "hunter2!"', "must be the name of an environment variable"),
        ('password_file = ""', "must be the path of the file"),
        ('password_envv = "X"', 'did you mean "password_env"?'),
    ],
)
def test_bad_secret_reference(secret_section: Section, line: str, expected: str) -> None:
    (problem,) = problems_of(f"[testbroker]\n{line}\n")
    assert expected in problem
    assert "hunter2" not in problem


def test_both_secret_sources_is_an_error(secret_section: Section) -> None:
    text = '[testbroker]\npassword_env = "PW"\npassword_file = "/run/pw"\n'
    assert problems_of(text) == [
        "testbroker.password: give either password_env or password_file, not both"
    ]


def test_secret_from_env(secret_section: Section, monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config_text('[testbroker]\npassword_env = "OPENSCO_TEST_PW"\n')
    ref = config.sections["testbroker"]["password"]
    assert ref == SecretRef("testbroker.password", env="OPENSCO_TEST_PW")
    monkeypatch.delenv("OPENSCO_TEST_PW", raising=False)
    with pytest.raises(ConfigError, match="OPENSCO_TEST_PW is not set"):
        ref.read()
    monkeypatch.setenv("OPENSCO_TEST_PW", "s3cret")
    assert ref.read() == "s3cret"


def test_secret_from_file(secret_section: Section, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    config = parse_config_text(f'[testbroker]\npassword_file = "{secret}"\n')
    ref = config.sections["testbroker"]["password"]
    with pytest.raises(ConfigError, match="cannot read secret file"):
        ref.read()
    secret.write_text("s3cret\n", encoding="utf-8")
    assert ref.read() == "s3cret"


# --- rendered defaults and docs ----------------------------------------------------------------


def test_default_config_round_trips(tmp_path: Path) -> None:
    text = render_default_config()
    path = tmp_path / "defaults.toml"
    path.write_text(text, encoding="utf-8")
    assert load_config(path) == load_config(None)
    # Every key is in the file, after its comment.
    lines = text.splitlines()
    data = tomllib.loads(text)
    for section in SECTIONS.values():
        header = lines.index(f"[{section.name}]")
        following = [i for i, ln in enumerate(lines) if ln.startswith("[") and i > header]
        body = lines[header : following[0] if following else len(lines)]
        for f in section.fields:
            assert data[section.name][f.name] == (
                list(f.default) if isinstance(f.default, tuple) else f.default
            )
            index = body.index(next(ln for ln in body if ln.startswith(f"{f.name} = ")))
            assert body[index - 1].startswith(f"# {f.description} (")


def test_default_config_shows_secrets_as_comments(secret_section: Section) -> None:
    text = render_default_config()
    assert '# password_env = "OPENSCO_TESTBROKER_PASSWORD"' in text
    assert parse_config_text(text).sections["testbroker"]["password"] is None


def test_docs_are_up_to_date() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == render_markdown_reference(), (
        "docs/configuration.md is stale; regenerate it with the command in its header"
    )


# --- sco config ------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    """A throwaway ``sco`` main: what kiosk/cli.py does with our register()."""
    parser = argparse.ArgumentParser(prog="sco")
    register_into = parser.add_subparsers(dest="command", required=True)
    config_cli.register(register_into)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "examples" / "kiosk.toml")
    assert run_cli(["config", "check", path]) == 0
    first, summary = capsys.readouterr().out.splitlines()
    assert first == f"{path}: OK"
    assert summary.startswith("lane lane-03 in store ")


def test_cli_check_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "lane.toml"
    path.write_text("[checkout]\nsame_code_timeout_ms = 99999\nvoid = true\n", encoding="utf-8")
    assert run_cli(["config", "check", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}: checkout.same_code_timeout_ms: must be between 0 and 10000")
    assert out[1].startswith(f'{path}: checkout.void: unknown key "void"')
    assert len(out) == 2


def test_cli_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.toml"
    assert run_cli(["config", "check", str(path)]) == 2
    assert capsys.readouterr().out.startswith(f"{path}: configuration file not found")


def test_cli_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["config", "defaults"]) == 0
    assert capsys.readouterr().out == render_default_config()


def test_cli_config_needs_a_subcommand() -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli(["config"])
    assert caught.value.code == 2


# --- validate never raises ---------------------------------------------------------------------

SCALARS = (
    st.text(max_size=12)
    | st.integers()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
KNOWN_SECTIONS = st.sampled_from([*sorted(SECTIONS), BROKER.name])
KNOWN_KEYS = st.sampled_from(
    sorted({k for s in [*SECTIONS.values(), BROKER] for k in s.file_keys()} | {"password"})
)
SECTION_BODIES = st.dictionaries(KNOWN_KEYS | st.text(max_size=8), VALUES, max_size=6)
DOCUMENTS = st.dictionaries(
    KNOWN_SECTIONS | st.text(max_size=8), SECTION_BODIES | VALUES, max_size=5
)


@given(DOCUMENTS)
def test_validate_never_raises(document: dict[str, Any]) -> None:
    # Not the fixture: hypothesis runs many examples per function-scoped fixture.
    SECTIONS[BROKER.name] = BROKER
    try:
        values, problems = validate(document)
    finally:
        del SECTIONS[BROKER.name]
    assert set(values) == {*SECTIONS, BROKER.name}
    assert all(isinstance(p, ConfigProblem) and p.message for p in problems)
    if not problems:
        settings = KioskConfig("a", "b", "en", "d", "c", "INFO", "", values).core_settings()
        assert isinstance(settings, CoreSettings)
