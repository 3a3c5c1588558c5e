"""Configuration: the lane's TOML file validates, and the catalog it names loads."""

from __future__ import annotations

from collections import Counter

from kiosk.config import ConfigFileError, KioskConfig, load_config
from kiosk.errors import KioskError
from kiosk.ops.bundle_redact import mask_url_passwords
from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext, Level, result

TITLE = "Configuration"


def load(path: str) -> tuple[KioskConfig | None, CheckResult]:
    """Read the config; its problems, in the validator's own words, become the result."""
    try:
        config = load_config(path)
    except ConfigFileError as err:
        # The validator quotes bad values: a broker URL with its password among them.
        problems = [mask_url_passwords(str(p), Counter(), "") for p in err.problems]
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        return None, result(
            "configuration", TITLE, Level.FAIL, f"{path}: {count}: " + "; ".join(problems),
            f"Correct {path} (each problem names the [section] and key), then run "
            f"`sco config check {path}` until it says OK; `sco config defaults` shows every "
            "key with its allowed values.",
            problems=problems,
        )  # fmt: skip
    except KioskError as err:
        return None, result("configuration", TITLE, Level.FAIL, f"{path}: {err}",
                            f"Correct {path}, then run `sco config check {path}`.")  # fmt: skip
    return config, result("configuration", TITLE, Level.OK, f"{path} is valid",
                          kiosk_id=config.kiosk_id, store_id=config.store_id)  # fmt: skip


def check_catalog(ctx: DoctorContext) -> list[CheckResult]:
    from kiosk.replay import load_catalog_file

    assert ctx.config is not None
    path = ctx.config.catalog_path
    exponent = int(ctx.config.sections["checkout"]["currency_exponent"])
    try:
        catalog = load_catalog_file(path, exponent)
    except KioskError as err:
        return [result("catalog", "Catalog", Level.FAIL, str(err),
                       f"Put a valid catalog at {path} ([catalog] path), check it with "
                       f"`sco catalog check {path}`.")]  # fmt: skip
    return [result("catalog", "Catalog", Level.OK, f"{len(catalog)} products in {path}",
                   products=len(catalog))]  # fmt: skip
