"""terraform-validate with the real terraform, on configurations that need no provider
(`terraform init` then works offline), and its process-group timeout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mercury.errors import ToolError
from mercury.exec import Command
from mercury.verify.context import VerifyContext
from mercury.verify.engine import _terraform
from mercury.verify.findings import Finding
from mercury.verify.rules import terraform_validate
from mercury.verify.rules.terraform_validate import TerraformValidateRule

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "rules" / "terraform-validate"
CASES = sorted([*FIXTURES.glob("pass/*.tf"), *FIXTURES.glob("fail/*.tf")])
TERRAFORM = shutil.which("terraform")
EXPECT = re.compile(r"expect:\s*(terraform-validate(?:\[[\w-]+\])?)(?:\s+(error|warning|info))?")

needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on PATH")


def _check(root: Path) -> list[Finding]:
    facts, _ = _terraform(root, None)
    assert facts is not None
    ctx = VerifyContext(root, [], terraform=facts)
    return sorted(TerraformValidateRule().check_all(ctx), key=Finding.sort_key)


def _repo(tmp_path: Path, name: str, text: str, *, init: bool = True) -> Path:
    tf = tmp_path / "terraform"
    tf.mkdir(parents=True)
    (tf / name).write_text(text)
    if init:
        assert TERRAFORM is not None
        subprocess.run([TERRAFORM, "init", "-input=false", "-no-color"], cwd=tf, check=True,
                       capture_output=True, timeout=120)
    return tmp_path


@needs_terraform
@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture(tmp_path: Path, path: Path) -> None:
    text = path.read_text()
    expected = sorted((rule, number, severity or "error")
                      for number, line in enumerate(text.splitlines(), 1)
                      for rule, severity in EXPECT.findall(line.split("#", 1)[-1]
                                                           if "#" in line else ""))
    assert bool(expected) == (path.parent.name == "fail")
    findings = _check(_repo(tmp_path, path.name, text))
    report = "\n".join(f"{f.file}:{f.line} {f.rule}: {f.message}" for f in findings)
    assert sorted((f.rule, f.line or 0, f.severity.value) for f in findings) == expected, report
    assert all(f.file == f"terraform/{path.name}" for f in findings)


@needs_terraform
def test_diagnostics_keep_terraforms_words_and_the_address(tmp_path: Path) -> None:
    findings = _check(_repo(tmp_path, "main.tf", (FIXTURES / "fail/language.tf").read_text()))
    by_line = {f.line: f for f in findings}
    assert by_line[8].object == "output.undeclared"
    assert by_line[8].message.startswith(
        "terraform validate: Reference to undeclared input variable: An input variable "
        'with the name "greting" has not been declared.')
    assert "Too many function arguments" in by_line[12].message


@needs_terraform
def test_providers_not_initialised_is_silent(tmp_path: Path) -> None:
    text = ('resource "random_password" "a" {\n  length = 8\n}\n'
            'resource "random_password" "b" {\n  length = 8\n}\n')
    assert _check(_repo(tmp_path, "main.tf", text, init=False)) == []  # silent: cannot run


@needs_terraform
def test_the_bundled_terraform_without_init_gives_nothing() -> None:
    if (REPO / "terraform" / ".terraform" / "providers").is_dir():
        pytest.skip("this checkout has run terraform init")
    assert _check(REPO) == []


def test_without_terraform_on_path_is_silent(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path, "main.tf", 'output "x" {\n  value = 1\n}\n', init=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _check(root) == []


@needs_terraform
def test_a_validate_that_times_out_is_a_warning(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = _repo(tmp_path, "main.tf", 'output "x" {\n  value = 1\n}\n')
    monkeypatch.setattr(terraform_validate, "TIMEOUT", 0.001)
    (finding,) = _check(root)
    assert (finding.rule, finding.severity.value) == ("terraform-validate[failed]", "warning")
    assert "timed out" in finding.message


def test_commands_return_output_and_check_codes() -> None:
    ok = Command(["sh", "-c", "cat; echo err >&2; exit 1"], input="in", ok_codes=(0, 1)).run()
    assert (ok.returncode, ok.stdout, ok.stderr) == (1, "in", "err\n")
    with pytest.raises(ToolError):
        Command(["sh", "-c", "exit 3"]).run()
