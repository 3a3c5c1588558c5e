"""The manuals cannot rot: every runnable ```console block of docs/manual/{en,zh} is run, in
order, in a fresh folder per manual, against simulated devices (pty scale simulators, the
payment-terminal simulator) and a real mosquitto; blocks that need hardware or a person are
marked ``<!-- no-run: why -->`` and counted. Every `sco doctor` check id has a
troubleshooting entry in both languages, and kiosk.help finds it."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.help import kb_reference, load_kb, lookup
from kiosk.help.kb import LANGUAGES, KnowledgeBaseError, parse
from tests.conftest import wait_for
from tests.manual_blocks import MANUAL, Block, blocks_of, manual_files

REPO = MANUAL.parents[1]
BIN = Path(sys.executable).parent
GUIDES = ("shopper-quick-guide", "attendant-handbook", "technician-guide", "lp-review-guide",
          "operations-runbook", "troubleshooting")  # fmt: skip
COMMAND_TIMEOUT_S = 300  # a safety net for a hung command, not a speed assertion


def _start(args: list[str], link: Path, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(BIN / "sco"), *args], stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    if not wait_for(lambda: link.exists() or proc.poll() is not None, 30):
        pytest.fail(f"{args} made no {link}")
    assert proc.poll() is None, log.read_text()
    return proc


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, mosquitto: tuple[str, int]
) -> Iterator[dict[str, str]]:
    """The hardware edge, simulated: what the manuals' device names stand for in the test."""
    dev = tmp_path_factory.mktemp("dev")
    procs = [
        _start(["scale", "simulate", "--protocol", "toledo8217", "--link", str(dev / "ttyUSB0"),
                "--control", str(dev / "bagging.sock")], dev / "ttyUSB0", dev / "bagging.log"),
        _start(["scale", "simulate", "--protocol", "toledo8217", "--link", str(dev / "ttyUSB1"),
                "--control", str(dev / "scan.sock")], dev / "ttyUSB1", dev / "scan.log"),
        _start(["payment", "simulate", "--link", str(dev / "ttyACM0")], dev / "ttyACM0",
               dev / "payment.log"),
    ]  # fmt: skip
    host, port = mosquitto
    yield {"/dev/ttyUSB0": str(dev / "ttyUSB0"), "/dev/ttyUSB1": str(dev / "ttyUSB1"),
           "/dev/ttyACM0": str(dev / "ttyACM0"), "localhost:1883": f"{host}:{port}"}  # fmt: skip
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def localise(command: str, work: Path, lab: dict[str, str]) -> str:
    """Production paths in the manuals become paths in the test's own folder."""
    for real, here in lab.items():
        command = command.replace(real, here)
    for prefix in ("/etc/opensco", "/var/lib/opensco", "/var/backups/opensco"):
        command = command.replace(prefix, str(work) + prefix)
    return command


def all_blocks() -> list[Block]:
    return [b for path in manual_files() for b in blocks_of(path)]


def test_every_guide_exists_in_both_languages() -> None:
    for lang in LANGUAGES:
        for guide in GUIDES:
            assert (MANUAL / lang / f"{guide}.md").is_file(), f"{lang}/{guide}.md is missing"


def test_every_console_block_is_marked_and_most_are_run() -> None:
    blocks = all_blocks()  # raises on an unmarked or malformed block
    run = [b for b in blocks if b.runnable]
    skipped = [b for b in blocks if not b.runnable]
    print(f"\n{len(blocks)} console blocks: {len(run)} run, {len(skipped)} marked no-run")
    for b in skipped:
        print(f"  no-run {b.where()}: {b.reason}")
    assert len(run) >= 2 * len(skipped), "most blocks must be runnable"
    for lang in LANGUAGES:
        assert any(b.path.parent.name == lang for b in run), f"no runnable block in {lang}"


@pytest.mark.parametrize("path", manual_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_manuals_commands_run(path: Path, tmp_path: Path, lab: dict[str, str]) -> None:
    blocks = [b for b in blocks_of(path) if b.runnable]
    if not blocks:
        pytest.skip("no runnable block")
    work = tmp_path / "work"
    work.mkdir()
    for name in ("examples", "deploy"):
        (work / name).symlink_to(REPO / name)
    for prefix in ("etc/opensco", "var/lib/opensco", "var/backups/opensco"):
        (work / prefix).mkdir(parents=True)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "HOME": str(tmp_path), "LANG": "C.UTF-8"}  # fmt: skip
    background: list[int] = []
    try:
        for block in blocks:
            for n, command in enumerate(block.commands, 1):
                script = localise(command, work, lab)
                last = n == len(block.commands)
                if script.rstrip().endswith("&"):
                    proc = subprocess.Popen(
                        ["bash", "-c", script], cwd=work, env=env,
                        stdin=subprocess.DEVNULL, start_new_session=True,
                    )  # fmt: skip
                    background.append(proc.pid)
                    continue
                done = subprocess.run(
                    ["bash", "-o", "pipefail", "-c", script], cwd=work, env=env,
                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                    timeout=COMMAND_TIMEOUT_S, check=False,
                )  # fmt: skip
                want = block.expect_exit if last else 0
                assert done.returncode == want, (
                    f"{block.where()}: `{command}` exited {done.returncode}, the manual says "
                    f"{want}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
                )
    finally:
        for pid in background:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)


def doctor_check_ids() -> set[str]:
    """Every id a doctor finding can carry, read from the checks' own source."""
    from kiosk.ops.doctor_checks import CHECKS
    from kiosk.ops.doctor_checks.broker import TLS_FILES
    from kiosk.ops.doctor_checks.devices import ADVICE

    ids = {name for name, _ in CHECKS} | {check for _, check, _ in TLS_FILES} | set(ADVICE)
    folder = REPO / "kiosk" / "ops" / "doctor_checks"
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "result"
                    and node.args and isinstance(node.args[0], ast.Constant)):  # fmt: skip
                ids.add(str(node.args[0].value))
    models = (REPO / "kiosk" / "ops" / "doctor_checks" / "models.py").read_text(encoding="utf-8")
    ids |= {f"model.{name}" for name in ("item-detector", "produce-classifier") if name in models}
    return ids


def test_every_doctor_check_id_has_an_entry_in_both_languages() -> None:
    ids = doctor_check_ids()
    assert {"configuration", "camera", "tls.client_cert", "journal.outbox",
            "model.item-detector", "scan_scale"} <= ids  # fmt: skip
    for lang in LANGUAGES:
        entries = load_kb(lang).entries
        missing = sorted(ids - set(entries))
        assert not missing, f"{lang}/troubleshooting.md lacks entries for {missing}"
        unknown = sorted(set(entries) - ids)
        assert not unknown, f"{lang}/troubleshooting.md has entries for no check: {unknown}"
        for entry in entries.values():
            assert len(entry.plain()) > 80, f"{lang} {entry.check_id} is too short to help"


def test_lookup_gives_the_language_asked_and_the_doctor_prints_the_reference(
    tmp_path: Path,
) -> None:
    zh, en = lookup("camera", "zh"), lookup("camera", "en")
    assert zh is not None and en is not None
    assert "摄像头" in zh.title and "Camera" in en.title
    assert "**" not in zh.plain() and "sco camera probe URL" in zh.plain()
    assert lookup("no.such.check") is None
    assert kb_reference("disk") == "docs/manual/en/troubleshooting.md § disk"
    config = tmp_path / "lane.toml"
    config.write_text('[catalog]\npath = "missing.csv"\n[kiosk_ui]\nrequired = ["disk"]\n')
    done = subprocess.run([str(BIN / "sco"), "doctor", "--config", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "help: docs/manual/en/troubleshooting.md § catalog" in done.stdout
    assert "§ clock" not in done.stdout  # an ok finding gets no pointer


def test_a_malformed_knowledge_base_is_refused_with_its_line() -> None:
    with pytest.raises(KnowledgeBaseError, match=r"x.md:3: an entry heading"):
        parse("# KB\n\n## camera without a dash\n", "en", Path("x.md"))
    with pytest.raises(KnowledgeBaseError, match="appears twice"):
        parse("## disk — Disk\na\n## disk — Disk\nb\n", "en", Path("x.md"))
    kb = parse("## disk — Disk\n```console\n## not a heading\n```\n", "en", Path("x.md"))
    assert list(kb.entries) == ["disk"]
