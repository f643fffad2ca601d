"""platform.yaml model and loader: every bad value is one line naming the field and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercury.cli.main import main
from mercury.errors import InputError
from mercury.platform import PLATFORM_FILE, load_platform, parse_platform
from mercury.platform.cron import cron_problem, runs_more_than_daily

REPO = Path(__file__).resolve().parent.parent
BUNDLED = (REPO / PLATFORM_FILE).read_text(encoding="utf-8")

SECOND_TENANT = """
  customer2:
    environment: staging
    host: {host}
"""


def line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the n-th `fragment`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{fragment!r} not in text")


def test_bundled_platform_loads() -> None:
    platform = load_platform(REPO)
    assert list(platform.environments) == ["staging"]
    assert platform.default_environment == "staging"
    tenant = platform.tenants["customer1"]
    assert tenant.host == "customer1.mercury.kubetest.uk"
    assert tenant.database.instances == 3
    assert tenant.backup.schedule == "0 0 2 * * *"
    assert tenant.backup.auth == "workload-identity"
    assert platform.environments["staging"].cluster.kubernetes_version == "1.35"


def test_defaults_fill_a_minimal_tenant() -> None:
    text = BUNDLED + SECOND_TENANT.format(host="c2.mercury.kubetest.uk")
    platform, _ = parse_platform(text)
    tenant = platform.tenants["customer2"]
    assert (tenant.database.instances, tenant.database.storage_size) == (3, "10Gi")
    assert (tenant.backup.schedule, tenant.backup.retention) == ("0 0 2 * * *", "30d")


def test_empty_tenants_is_an_empty_map() -> None:
    head = BUNDLED.split("tenants:")[0]
    for tail in ("tenants:\n", "tenants: {}\n"):
        platform, _ = parse_platform(head + tail)
        assert platform.tenants == {}


# (description, edited text, field in the message, fragment of the offending line, words)
CASES = [
    ("bad tenant name", BUNDLED.replace("  customer1:", "  Customer_1:"),
     "tenants.Customer_1", "Customer_1:", "lowercase"),
    ("reserved name", BUNDLED.replace("  customer1:", "  kube-system:"),
     "tenants.kube-system", "kube-system:", "reserved"),
    ("unknown environment", BUNDLED.replace("    environment: staging", "    environment: prod"),
     "tenants.customer1.environment", "environment: prod", "unknown environment 'prod'"),
    ("duplicate host", BUNDLED + SECOND_TENANT.format(host="customer1.mercury.kubetest.uk"),
     "tenants.customer2.host", "host: customer1.mercury.kubetest.uk|2",
     "already used by tenant customer1"),
    ("five-field schedule", BUNDLED.replace('"0 0 2 * * *"', '"0 2 * * *"'),
     "tenants.customer1.backup.schedule", '"0 2 * * *"', "did you mean '0 0 2 * * *'"),
    ("bad retention", BUNDLED.replace("retention: 30d", "retention: 30 days"),
     "tenants.customer1.backup.retention", "retention: 30 days", "30d, 4w or 6m"),
    ("zero instances", BUNDLED.replace("instances: 3", "instances: 0"),
     "tenants.customer1.database.instances", "instances: 0", "greater than or equal to 1"),
    ("instances not a number", BUNDLED.replace("instances: 3", "instances: three"),
     "tenants.customer1.database.instances", "instances: three", "integer"),
    ("bad storage size", BUNDLED.replace("storage_size: 10Gi", "storage_size: 10GB"),
     "tenants.customer1.database.storage_size", "storage_size: 10GB", "quantity"),
    ("unknown backup auth", BUNDLED.replace("auth: workload-identity", "auth: password"),
     "tenants.customer1.backup.auth", "auth: password", "workload-identity"),
    ("unknown tenant field", BUNDLED.replace("    host: customer1", "    replicas: 2\n    host: "
                                             "customer1"),
     "tenants.customer1.replicas", "replicas: 2", "unknown field"),
    ("missing host", BUNDLED.replace("    host: customer1.mercury.kubetest.uk\n", ""),
     "tenants.customer1.host", "  customer1:", "required field is missing"),
    ("bad email", BUNDLED.replace("acme_email: platform@kubetest.uk", "acme_email: nobody"),
     "environments.staging.acme_email", "acme_email: nobody", "not an email address"),
    ("bad storage account", BUNDLED.replace("mercurybackupsstaging", "Mercury-Backups"),
     "environments.staging.storage_account_name", "Mercury-Backups", "pattern"),
]


def _expected_line(text: str, fragment: str) -> int:
    fragment, _, nth = fragment.partition("|")
    return line_of(text, fragment, int(nth or 1))


@pytest.mark.parametrize(("text", "field", "fragment", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_value_names_field_and_line(text: str, field: str, fragment: str,
                                            words: str) -> None:
    assert text != BUNDLED, "the case did not change the file"
    with pytest.raises(InputError) as info:
        parse_platform(text)
    message = str(info.value)
    line = _expected_line(text, fragment)
    assert info.value.line == line
    assert message.startswith(f"{PLATFORM_FILE}:{line}: {field}: "), message
    assert words in message
    assert "\n" not in message


def test_yaml_syntax_error_has_its_line() -> None:
    text = BUNDLED.replace("    host: customer1.mercury.kubetest.uk",
                           "    host: [customer1.mercury.kubetest.uk")
    with pytest.raises(InputError) as info:
        parse_platform(text)
    assert "invalid YAML" in str(info.value)
    # the parser notices the unclosed '[' where the flow sequence cannot go on
    assert info.value.line is not None
    assert line_of(text, "host: [") <= info.value.line <= line_of(text, "host: [") + 2


def test_not_a_mapping() -> None:
    with pytest.raises(InputError, match="expected a mapping"):
        parse_platform("- just\n- a list\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no platform\.yaml here"):
        load_platform(tmp_path)


@pytest.mark.parametrize(("text", "field", "fragment", "words"),
                         [c[1:] for c in CASES[:6]], ids=[c[0] for c in CASES[:6]])
def test_cli_reports_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         text: str, field: str, fragment: str,
                                         words: str) -> None:
    (tmp_path / PLATFORM_FILE).write_text(text, encoding="utf-8")
    assert main(["tenant", "list", "--repo", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1
    line = _expected_line(text, fragment)
    assert err.startswith(f"mercury: error: {tmp_path / PLATFORM_FILE}:{line}: {field}: ")
    assert words in err


def test_cli_yaml_error_and_missing_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "list", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no platform.yaml here" in err
    (tmp_path / PLATFORM_FILE).write_text("tenants: [\n", encoding="utf-8")
    assert main(["tenant", "list", "--repo", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid YAML" in err and "Traceback" not in err


# --- cron: six fields, seconds first ---------------------------------------------------

@pytest.mark.parametrize("schedule", [
    "0 0 2 * * *", "0 30 1 * * 1-5", "0 0 */6 * * *", "0 0 3 1,15 * *",
    "0 0 4 * JAN-MAR MON", "30 59 23 31 12 6", "0 0 0 ? * SUN", "@daily", "@every 12h",
])
def test_valid_schedules(schedule: str) -> None:
    assert cron_problem(schedule) is None


def test_five_fields_suggest_the_fix() -> None:
    problem = cron_problem("0 2 * * *")
    assert problem is not None
    assert "5 fields" in problem
    assert "minute=2 hour=*" in problem  # says what CNPG would actually do
    assert "did you mean '0 0 2 * * *'" in problem


@pytest.mark.parametrize(("schedule", "words"), [
    ("60 0 2 * * *", "second field '60': 60 is outside 0-59"),
    ("0 60 2 * * *", "minute field '60': 60 is outside 0-59"),
    ("0 0 24 * * *", "hour field '24': 24 is outside 0-23"),
    ("0 0 2 0 * *", "day of month field '0': 0 is outside 1-31"),
    ("0 0 2 * 13 *", "month field '13': 13 is outside 1-12"),
    ("0 0 2 * * 7", "day of week field '7': 7 is outside 0-6"),
    ("0 0 5-2 * * *", "runs backwards"),
    ("0 */0 2 * * *", "bad step"),
    ("0 0 two * * *", "not a number"),
    ("0 0 2 * * * 2026", "7 fields"),
    ("daily", "1 fields"),
])
def test_invalid_schedules(schedule: str, words: str) -> None:
    problem = cron_problem(schedule)
    assert problem is not None and words in problem, problem


def test_runs_more_than_daily() -> None:
    assert not runs_more_than_daily("0 0 2 * * *")
    assert runs_more_than_daily("0 0 */6 * * *")
    assert runs_more_than_daily("0 0 * * * *")
    assert runs_more_than_daily("@hourly")
    assert not runs_more_than_daily("@daily")
