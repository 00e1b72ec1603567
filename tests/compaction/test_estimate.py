"""Token estimation and the auto-compact limit (our choices unless noted as Codex-compatible)."""

from __future__ import annotations

import msgspec

from server.compaction.estimate import (
    IMAGE_TOKENS,
    auto_compact_limit,
    context_estimate,
    estimate_history,
    estimate_item_tokens,
    estimate_text_tokens,
    items_after_last_model_item,
)

from .factories import assistant, call, compaction, image_message, output, reasoning, user


def test_an_item_costs_its_compact_json_bytes_divided_by_four_rounded_up() -> None:
    item = user("hello world")
    n_bytes = len(msgspec.json.encode(item))
    assert estimate_item_tokens(item) == -(-n_bytes // 4)


def test_encrypted_reasoning_is_sized_by_the_bytes_its_base64_decodes_to() -> None:
    small = estimate_item_tokens(reasoning(encrypted="A" * 400))
    large = estimate_item_tokens(reasoning(encrypted="A" * 4_400))
    # 4,000 more base64 characters decode to 3,000 bytes, i.e. 750 tokens.
    assert large - small == 750


def test_a_compaction_item_is_sized_like_encrypted_reasoning() -> None:
    assert (
        estimate_item_tokens(compaction(encrypted="A" * 4_400)) - estimate_item_tokens(compaction(encrypted="A" * 400))
        == 750
    )


def test_an_image_costs_a_fixed_amount_whatever_its_data_url_length() -> None:
    tiny = estimate_item_tokens(image_message("data:image/png;base64," + "A" * 10))
    huge = estimate_item_tokens(image_message("data:image/png;base64," + "A" * 1_000_000))
    assert tiny == huge
    assert tiny >= IMAGE_TOKENS


def test_images_inside_tool_outputs_are_also_charged_the_fixed_cost() -> None:
    item = {
        "type": "function_call_output",
        "call_id": "c1",
        "output": [{"type": "input_image", "image_url": "data:image/png;base64," + "A" * 50_000}],
    }
    assert IMAGE_TOKENS <= estimate_item_tokens(item) < IMAGE_TOKENS + 50


def test_the_history_estimate_is_the_sum_of_item_estimates() -> None:
    items = [user("a"), assistant("b"), call("c1"), output("c1")]
    assert estimate_history(items) == sum(estimate_item_tokens(item) for item in items)
    assert estimate_history([]) == 0


def test_items_after_the_last_model_item_are_the_tool_outputs_and_new_input() -> None:
    history = [user("a"), assistant("b"), call("c1"), output("c1"), user("steer")]
    assert items_after_last_model_item(history) == [output("c1"), user("steer")]


def test_with_no_model_item_every_item_counts_as_new() -> None:
    history = [user("a"), user("b")]
    assert items_after_last_model_item(history) == history


def test_context_estimate_is_the_last_usage_plus_the_estimate_of_newer_items() -> None:
    newer = [output("c1", "x" * 400)]
    assert context_estimate(10_000, newer) == 10_000 + estimate_history(newer)


def test_context_estimate_without_usage_estimates_the_items_alone() -> None:
    history = [user("a"), assistant("b")]
    assert context_estimate(None, history) == estimate_history(history)
    assert context_estimate(0, history) == estimate_history(history)


def test_the_limit_is_the_smaller_of_the_configured_value_and_ninety_percent_of_the_window() -> None:
    """Codex-compatible: a 272k window gives 244,800."""
    assert auto_compact_limit(272_000, None) == 244_800
    assert auto_compact_limit(272_000, 100_000) == 100_000
    assert auto_compact_limit(272_000, 500_000) == 244_800


def test_either_value_alone_is_the_limit_and_a_non_positive_configured_value_is_ignored() -> None:
    assert auto_compact_limit(None, 50_000) == 50_000
    assert auto_compact_limit(200_000, 0) == 180_000
    assert auto_compact_limit(200_000, -5) == 180_000
    assert auto_compact_limit(None, None) is None
    assert auto_compact_limit(None, 0) is None


def test_bare_text_is_sized_by_its_utf8_bytes() -> None:
    assert estimate_text_tokens("abcd") == 1
    assert estimate_text_tokens("abcde") == 2
    assert estimate_text_tokens("é" * 4) == 2
