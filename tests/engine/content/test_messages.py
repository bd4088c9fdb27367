"""Strategy message templates: only named, allowed fields; rendered without str.format."""

from __future__ import annotations

import pytest

from engine.content.messages import ALLOWED_FIELDS, render, template_fields, template_problems


def test_allowed_fields_are_the_documented_set():
    assert set(ALLOWED_FIELDS) == {
        "service_name", "service", "hot_content", "client_app", "account_manager", "city", "brand", "plan"}


def test_a_good_template_has_no_problems_and_renders():
    template = "尊敬的{city}客户，您的{service_name}热门：{hot_content}。回复{{1}}退订"
    assert template_problems(template) == []
    assert template_fields(template) == ["city", "service_name", "hot_content"]
    assert render(template, {"city": "西安", "service_name": "手机阅读", "hot_content": "三体"}) == (
        "尊敬的西安客户，您的手机阅读热门：三体。回复{1}退订")


def test_missing_and_none_values_render_empty():
    assert render("[{brand}|{plan}]", {"brand": None}) == "[|]"


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{servce_name}", "did you mean 'service_name'"),
        ("{service.__class__}", "attribute or index access"),
        ("{city[0]}", "attribute or index access"),
        ("{city!r}", "conversion"),
        ("{brand:>100000}", "format spec"),
        ("{}", "must name a field"),
        ("{0}", "must name a field"),
        ("{service_name", "broken placeholder"),
        ("service_name}", "broken placeholder"),
    ],
)
def test_problems_name_the_placeholder(template: str, needle: str):
    problems = template_problems(template)
    assert problems and any(needle in p for p in problems), problems


def test_render_refuses_a_bad_template_instead_of_reaching_into_objects():
    class Secret:
        password = "hunter2"

    with pytest.raises(ValueError, match="attribute"):
        render("{service.password}", {"service": Secret()})


def test_non_text_template_is_a_problem():
    assert template_problems(42) == ["the message must be text"]  # type: ignore[arg-type]
