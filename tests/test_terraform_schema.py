"""terraform-schema against the real azurerm 4.81.0 / random 3.9.0 schemas.

Fixtures (tests/rules/terraform-schema/{pass,fail}/*.tf) mark the line of every finding
they expect; the bundled terraform/ must be clean, and mutations of its real files must
give exactly the finding at exactly the line.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from mercury.builder.hcl_syntax import Attribute, Block, HclSyntaxError, parse_body
from mercury.cli.main import main
from mercury.errors import InputError
from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.engine import _terraform
from mercury.verify.findings import Finding
from mercury.verify.rules import ALL_RULES
from mercury.verify.rules.terraform_schema import TerraformSchemaRule
from mercury.verify.tfschema import ENV_VAR, load, locate

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "rules" / "terraform-schema"
SCHEMAS = (REPO.parent / "shared" / "schemas" / "terraform").resolve()
SCHEMA_FILE = SCHEMAS / "providers-azurerm-4.81.0-random-3.9.0.json"
EXPECT = re.compile(r"expect:\s*([\w-]+(?:\[[\w-]+\])?)(?:\s+(error|warning|info))?")
CASES = sorted([*FIXTURES.glob("pass/*.tf"), *FIXTURES.glob("fail/*.tf")])

pytestmark = pytest.mark.skipif(not SCHEMA_FILE.is_file(),
                                reason=f"provider schemas not found at {SCHEMAS}")


def _facts(root: Path, schema: str | None = str(SCHEMAS)) -> TerraformFacts:
    facts, _ = _terraform(root, None, schema)
    assert facts is not None
    return facts


def _check(root: Path, schema: str | None = str(SCHEMAS)) -> list[Finding]:
    ctx = VerifyContext(root, [], terraform=_facts(root, schema))
    return sorted(TerraformSchemaRule().check_all(ctx), key=Finding.sort_key)


def _repo_with(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / "terraform" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "terraform" / name).write_text(text)
    return tmp_path


def _expected(text: str) -> list[tuple[str, int, str]]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        comment = line.split("#", 1)[1] if "#" in line else ""
        for rule, severity in EXPECT.findall(comment):
            out.append((rule, number, severity or "error"))
    return sorted(out)


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture(tmp_path: Path, path: Path) -> None:
    text = path.read_text()
    expected = _expected(text)
    assert bool(expected) == (path.parent.name == "fail"), "fail fixtures expect, pass do not"
    findings = _check(_repo_with(tmp_path, {path.name: text}))
    report = "\n".join(f"{f.line}: {f.rule} {f.severity.value}: {f.message}" for f in findings)
    got = sorted((f.rule, f.line or 0, f.severity.value) for f in findings)
    assert got == expected, report
    assert all(f.file == f"terraform/{path.name}" and f.hint for f in findings)


def test_messages_name_the_address_and_suggest(tmp_path: Path) -> None:
    findings = _check(_repo_with(tmp_path, {"main.tf": (FIXTURES / "fail/unknown.tf").read_text()}))
    by_line = {f.line: f for f in findings}
    assert by_line[13].object == "azurerm_resource_group.main.lcoation"
    assert by_line[13].message == ("azurerm_resource_group.main: unknown argument `lcoation` "
                                   "(did you mean `location`?)")
    assert "did you mean `azurerm_resource_group`?" in by_line[20].message
    assert "did you mean `azurerm_storage_account`?" in by_line[30].message


# ---------------------------------------------------------------- the real terraform/

def test_bundled_terraform_matches_the_provider_schemas() -> None:
    started = time.perf_counter()
    findings = _check(REPO)
    elapsed = time.perf_counter() - started
    assert findings == []
    assert elapsed < 5, f"terraform-schema took {elapsed:.2f}s"


@pytest.fixture
def real_tf(tmp_path: Path) -> Path:
    """A repository holding a copy of the bundled terraform/ and platform.yaml."""
    shutil.copytree(REPO / "terraform", tmp_path / "terraform",
                    ignore=shutil.ignore_patterns(".terraform*"))
    shutil.copy2(REPO / "platform.yaml", tmp_path / "platform.yaml")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> int:
    """Replace `old` once; returns the 1-based line where `new` starts."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not once in {path.name}"
    path.write_text(text.replace(old, new))
    return text[:text.index(old)].count("\n") + 1


def _line_of(path: Path, pattern: str) -> int:
    text = path.read_text()
    match = re.search(pattern, text, re.M)
    assert match, pattern
    return text[:match.start()].count("\n") + 1


def test_mutations_of_the_real_cluster(real_tf: Path) -> None:
    main_tf = real_tf / "terraform" / "main.tf"
    header = _line_of(main_tf, r'^resource "azurerm_kubernetes_cluster" "main"')
    line = _edit(main_tf, "  dns_prefix          = local.cluster.name\n",
                 "  dns_prefix          = local.cluster.name\n  sku = \"Free\"\n")
    _edit(main_tf, "  resource_group_name = azurerm_resource_group.main.name\n  dns_prefix",
          "  dns_prefix")
    findings = _check(real_tf)
    assert [(f.rule, f.file, f.line, f.message) for f in findings] == [
        ("terraform-schema[missing-argument]", "terraform/main.tf", header,
         "azurerm_kubernetes_cluster.main: required argument `resource_group_name` is missing"),
        ("terraform-schema[unknown-argument]", "terraform/main.tf", line,
         "azurerm_kubernetes_cluster.main: unknown argument `sku` (did you mean `sku_tier`?)"),
    ]


def test_mutations_of_nested_blocks_and_nesting(real_tf: Path) -> None:
    main_tf = real_tf / "terraform" / "main.tf"
    pool = _line_of(main_tf, r"^  default_node_pool \{")
    _edit(main_tf, '    name       = "system"\n', "")
    surge = _edit(main_tf, '      max_surge = "10%"\n', '      max_surges = "10%"\n')
    identity = _edit(main_tf, "  identity {\n", "  identity = {\n")
    findings = _check(real_tf)
    assert [(f.rule, f.line) for f in findings] == [
        ("terraform-schema[missing-argument]", pool),  # name
        ("terraform-schema[missing-argument]", surge - 1),  # upgrade_settings.max_surge
        ("terraform-schema[unknown-argument]", surge),
        ("terraform-schema[nesting]", identity),
    ]
    assert findings[1].message.endswith("upgrade_settings: required argument `max_surge` "
                                        "is missing")
    assert "`max_surges` (did you mean `max_surge`?)" in findings[2].message
    assert findings[0].object == "azurerm_kubernetes_cluster.main.default_node_pool"


def test_the_parent_id_deprecation_is_caught_on_the_real_file(real_tf: Path) -> None:
    backups = real_tf / "terraform" / "backups.tf"
    line = _edit(backups, "  user_assigned_identity_id = ", "  parent_id = ")
    (finding,) = _check(real_tf)
    assert (finding.rule, finding.severity.value, finding.line) == (
        "terraform-schema[deprecated]", "warning", line)
    assert finding.object == "azurerm_federated_identity_credential.backup.parent_id"


def test_a_file_python_hcl2_refuses_is_still_checked(real_tf: Path) -> None:
    main_tf = real_tf / "terraform" / "main.tf"
    line = _edit(main_tf, "  tags     = local.tags\n}", "  tags     = local.tags\n  tags = {}\n}")
    facts = _facts(real_tf)
    assert "terraform/main.tf" in facts.unparsed
    assert [(f.rule, f.line) for f in _check(real_tf)] == [
        ("terraform-schema[duplicate]", line + 1)]


# ---------------------------------------------------------------- where schemas come from

def test_without_schemas_the_rule_says_so_once(real_tf: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    (finding,) = _check(real_tf, schema=None)
    assert (finding.rule, finding.severity.value) == ("terraform-schema[skipped]", "info")
    assert "--terraform-schema" in finding.hint and ENV_VAR in finding.hint


def test_schema_location_option_env_and_default(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert locate(REPO) == SCHEMAS  # ../shared/schemas/terraform beside the checkout
    assert locate(tmp_path) is None
    monkeypatch.setenv(ENV_VAR, str(SCHEMA_FILE))
    assert locate(tmp_path) == SCHEMA_FILE
    assert locate(tmp_path, str(SCHEMAS)) == SCHEMAS  # the option wins
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing"))
    with pytest.raises(InputError, match=ENV_VAR):
        locate(tmp_path)
    schemas = load(SCHEMA_FILE)
    assert load(SCHEMA_FILE) is schemas  # parsed once
    assert sorted(schemas.providers) == ["registry.terraform.io/hashicorp/azurerm",
                                         "registry.terraform.io/hashicorp/random"]


def test_cli_option(real_tf: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    (real_tf / "terraform" / "extra.tf").write_text(
        'resource "random_password" "x" {\n  length = 8\n  lenght = 9\n}\n')
    args = ["verify", str(real_tf), "--format", "json", "--skip", "terraform-validate"]
    assert main([*args, "--terraform-schema", str(real_tf / "nope")]) == 2
    capsys.readouterr()
    main([*args, "--terraform-schema", str(SCHEMA_FILE)])
    out = capsys.readouterr().out
    assert '"rule": "terraform-schema[unknown-argument]"' in out
    assert '"file": "terraform/extra.tf"' in out and '"line": 3' in out


def test_rules_are_registered() -> None:
    ids = {r.id for r in ALL_RULES}
    assert {"terraform-schema", "terraform-validate"} <= ids


# ---------------------------------------------------------------- the HCL structure reader

def test_hcl_structure_keeps_lines_through_strings_heredocs_and_comments() -> None:
    text = '''# top
locals {
  a = "${join("}", ["{"])}" // } {
  b = <<-EOT
    c = "not an attribute"
    }
  EOT
  /* d = 1
  } */
  e = {
    f = [1,
      2]
  }
}
one "x" "y" { g = 1 }
'''
    body = parse_body(text)
    locals_block, one = body.blocks
    assert [(i.name, i.line) for i in locals_block.body.items if isinstance(i, Attribute)] == [
        ("a", 3), ("b", 4), ("e", 10)]
    assert isinstance(one, Block) and (one.labels, one.line) == (["x", "y"], 15)
    assert one.body.attributes[0] == Attribute("g", 15, "1")
    for bad, line in (('x {\n  a = "open\n}\n', 2), ("x {\n  a = [1,\n", 2),
                      ("x {\n  a = 1\n", 3), ("x = <<EOT\nno end\n", 1)):
        with pytest.raises(HclSyntaxError) as info:
            parse_body(bad)
        assert info.value.line == line, bad
