"""Flux postBuild substitution semantics (fluxcd/pkg envsubst), as mercury reproduces them."""

from __future__ import annotations

import pytest

from mercury.builder.substitute import (
    SubstitutionError,
    check_var_names,
    is_disabled,
    substitute,
)

VARS = {"NAME": "hello", "EMPTY": "", "ID": "1234"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a ${NAME} b", "a hello b"),
        ("${NAME}${ID}", "hello1234"),
        ("${MISSING:=fallback}", "fallback"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:=fallback}", "fallback"),  # empty counts as unset for defaults
        ("${NAME:=fallback}", "hello"),
        ("${MISSING:=pre-${NAME}-post}", "pre-hello-post"),
        ("${NAME^^}", "HELLO"),
        ("${NAME^}", "Hello"),
        ("${#NAME}", "5"),
        ("${NAME:1:3}", "ell"),
        ("${NAME//l/L}", "heLLo"),
        ("${NAME%l*}", "hel"),
    ],
)
def test_expansions(text: str, expected: str) -> None:
    assert substitute(text, VARS) == (expected, [])


def test_dollar_without_braces_is_not_substituted() -> None:
    assert substitute("echo $NAME and $HOME", VARS) == ("echo $NAME and $HOME", [])


def test_double_dollar_escapes() -> None:
    assert substitute("$${NAME} costs $$5", VARS) == ("${NAME} costs $5", [])


def test_unresolved_is_kept_and_reported() -> None:
    text, missing = substitute("id: ${NOPE}\nname: ${NAME}\nother: ${ALSO_NOPE}", VARS)
    assert text == "id: ${NOPE}\nname: hello\nother: ${ALSO_NOPE}"
    assert missing == ["ALSO_NOPE", "NOPE"]


def test_unresolved_becomes_empty_like_flux_when_asked() -> None:
    assert substitute("x${NOPE}y", VARS, keep_unresolved=False) == ("xy", ["NOPE"])


def test_values_lose_newlines_like_flux() -> None:
    assert substitute("v: ${A}", {"A": "line1\nline2"})[0] == "v: line1line2"


@pytest.mark.parametrize("text", ["${NAME-x}", "${}", "${ NAME}", "${NAME"])
def test_flux_parse_errors(text: str) -> None:
    with pytest.raises(SubstitutionError):
        substitute(text, VARS)


def test_invalid_variable_name_is_rejected() -> None:
    check_var_names({"GOOD_1": "x"})
    with pytest.raises(SubstitutionError, match="var name is invalid"):
        check_var_names({"BAD-NAME": "x"})


def test_disabled_by_label_or_annotation() -> None:
    key = "kustomize.toolkit.fluxcd.io/substitute"
    assert is_disabled({"metadata": {"annotations": {key: "disabled"}}})
    assert is_disabled({"metadata": {"labels": {key: "disabled"}}})
    assert not is_disabled({"metadata": {"labels": {key: "enabled"}}})
    assert not is_disabled({"metadata": None})
