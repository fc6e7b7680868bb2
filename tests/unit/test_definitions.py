"""Checking a guideline and prompt pair before it is stored, and named model profiles."""

from __future__ import annotations

import pytest

from llmlabel.definitions import SAMPLE_INPUTS, check_pair
from llmlabel.errors import ConfigError, DefinitionError, InputError
from llmlabel.guidelines import VersionRegistry
from llmlabel.settings import Settings
from llmlabel.tasks import TASK_TYPES

GUIDELINE = """---
labels: [spam, ham]
few_shot:
  - input: {text: "free money"}
    output: {label: spam, confidence: 0.9}
---
Spam or ham.
"""
PROMPT = "system: |\n  {{ guideline }}\n  {{ schema }}\nuser: |\n  Text: {{ text }}\n"


def test_a_good_pair_builds_its_task_with_its_own_labels() -> None:
    pair = check_pair("classification", GUIDELINE, PROMPT, guideline_version="v3")
    assert pair.task.guideline.labels == ["spam", "ham"]
    assert (pair.guideline.version, pair.prompt.version) == ("v3", "draft")


@pytest.mark.parametrize(
    ("guideline", "prompt", "part", "field", "line"),
    [
        (GUIDELINE.replace("label: spam", "label: eggs"), PROMPT, "guideline", "few_shot.0.output", 5),
        (GUIDELINE.replace('{text: "free money"}', "{txt: 1}"), PROMPT, "guideline",
         "few_shot.0.input.text", 4),
        (GUIDELINE.replace("[spam, ham]", "[]"), PROMPT, "guideline", "labels", 2),
        (GUIDELINE, PROMPT.replace("{{ text }}", "{{ body }}"), "prompt", "user", 5),
        (GUIDELINE, PROMPT.replace("{{ schema }}", "{% if %}"), "prompt", "system", 3),
        (GUIDELINE, "user: x\n", "prompt", "system", None),
    ],
)
def test_faults_name_part_field_and_line(
    guideline: str, prompt: str, part: str, field: str, line: int | None
) -> None:
    with pytest.raises(DefinitionError) as caught:
        check_pair("classification", guideline, prompt)
    assert (caught.value.part, caught.value.field, caught.value.line) == (part, field, line)


def test_without_few_shot_the_prompt_renders_for_a_sample_item() -> None:
    bare = "---\nlabels: [spam, ham]\n---\nSpam or ham.\n"
    assert check_pair("classification", bare, PROMPT).guideline.few_shot == []
    with pytest.raises(DefinitionError, match="body"):
        check_pair("classification", bare, PROMPT.replace("{{ text }}", "{{ body }}"))


def test_every_task_type_has_a_sample_item_that_fits_it() -> None:
    registry = VersionRegistry()
    assert set(SAMPLE_INPUTS) == set(TASK_TYPES)
    for task in TASK_TYPES:
        pair = check_pair(task, registry.text("guideline", task)[1], registry.text("prompt", task)[1])
        pair.task.validate_input(SAMPLE_INPUTS[task])


def test_unknown_task_type_is_an_input_error_on_task() -> None:
    with pytest.raises(InputError) as caught:
        check_pair("astrology", GUIDELINE, PROMPT)
    assert caught.value.field == "task"


def test_named_profiles_come_from_json_and_keys_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMLABEL_PROFILES", '{"fast": {"backend": "openai", "model": "m1", '
                       '"api_key_env": "FAST_KEY", "price_input_per_mtok": 0.5}}')
    settings = Settings(_env_file=None, backend="openai", api_key="k")  # type: ignore[call-arg]
    assert settings.profile_names() == ["default", "fast"]
    with pytest.raises(ConfigError, match=r"\$FAST_KEY"):
        settings.profile("fast")
    monkeypatch.setenv("FAST_KEY", "secret")
    fast = settings.profile("fast")
    assert (fast.name, fast.model, fast.pricing.input_per_mtok) == ("fast", "m1", 0.5)
    assert fast.api_key is not None and fast.api_key.get_secret_value() == "secret"
    assert settings.profile().name == settings.profile("default").name == "default"
    with pytest.raises(ConfigError, match="not configured"):
        settings.profile("gpu")
