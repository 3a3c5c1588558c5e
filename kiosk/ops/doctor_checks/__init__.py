"""One module per area that ``sco doctor`` checks; :data:`CHECKS` is the order of the report.

Each check takes a :class:`~kiosk.ops.doctor_checks.common.DoctorContext` with a valid
configuration and returns one or more results; it never raises for what it finds.
"""

from __future__ import annotations

from collections.abc import Callable

from kiosk.ops.doctor_checks.broker import check_broker
from kiosk.ops.doctor_checks.camera import check_camera
from kiosk.ops.doctor_checks.clock import check_clock
from kiosk.ops.doctor_checks.common import CheckResult, DoctorContext
from kiosk.ops.doctor_checks.configuration import check_catalog
from kiosk.ops.doctor_checks.devices import check_payment, check_printer, check_scales
from kiosk.ops.doctor_checks.disk import check_disk
from kiosk.ops.doctor_checks.journal import check_journal
from kiosk.ops.doctor_checks.models import check_models

Check = Callable[[DoctorContext], list[CheckResult]]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("catalog", check_catalog),
    ("camera", check_camera),
    ("scales", check_scales),
    ("printer", check_printer),
    ("payment", check_payment),
    ("broker", check_broker),
    ("models", check_models),
    ("disk", check_disk),
    ("clock", check_clock),
    ("journal", check_journal),
)
