"""The prompt string of an example: what a model is given, in the slot's format.

Layout (blocks separated by a blank line):

    <instruction>

    <demonstration 1 body> <gold label of demonstration 1>
    ...

    <query body>

A multiple-choice body is the question (plus any distractor suffix), then the options — one line
each, `label_template` filled with this slot's labels — joined by the slot's separator (a newline
lists them one per line; "; ", " | ", " OR " put them on one line), then the answer cue:

    Which gas do plants absorb? And true is true.
    A. Oxygen
    B. Carbon dioxide
    Answer:

A classification body is `Text: ...` (and `Text 2: ...` for pairs), the label names joined by the
separator after `Options:`, then the cue. Demonstrations are rendered in the *query's* format —
same labels, separator and cue — followed by their gold label, the way lm-eval writes k-shot MMLU.
An empty instruction means the task type's default (`builder.tasks.DEFAULT_INSTRUCTION`).

This runs once per row (~300k times for MMLU at 20+ slots), so it is plain string joins.
"""

from __future__ import annotations

from builder.tasks import DEFAULT_INSTRUCTION, Example, PromptFormat


def _labels(fmt: PromptFormat, example: Example, n: int) -> tuple[str, ...]:
    if n > len(fmt.choice_labels):
        raise ValueError(
            f"{example.example_id}: {n} options but the format has only {len(fmt.choice_labels)} labels"
        )
    return fmt.choice_labels[:n]


def _mc_body(example: Example, fmt: PromptFormat) -> tuple[str, tuple[str, ...]]:
    """The question block and the labels it used (a demonstration's answer is written with them)."""
    labels = _labels(fmt, example, len(example.choices))
    template = fmt.label_template
    options = fmt.separator.join(
        [
            template.format(label=label, choice=choice)
            for label, choice in zip(labels, example.choices, strict=True)
        ]
    )
    question = f"{example.question} {example.suffix}" if example.suffix else example.question
    return f"{question}\n{options}\n{fmt.answer_cue}", labels


def _classification_body(example: Example, fmt: PromptFormat) -> tuple[str, tuple[str, ...]]:
    lines = [f"Text: {example.text}"]
    if example.text_pair is not None:
        lines.append(f"Text 2: {example.text_pair}")
    if example.suffix:
        lines[-1] = f"{lines[-1]} {example.suffix}"
    names = example.label_names
    lines.append(("Options:\n" if fmt.separator == "\n" else "Options: ") + fmt.separator.join(names))
    lines.append(fmt.answer_cue)
    return "\n".join(lines), names


def render_prompt(example: Example) -> str:
    """The full prompt for `example` in its slot's format, k-shot demonstrations included."""
    fmt = example.format
    body = _mc_body if example.task_type == "multiple_choice" else _classification_body
    blocks = [fmt.instruction or DEFAULT_INSTRUCTION[example.task_type]]
    for demo in example.demonstrations:
        text, labels = body(demo, fmt)
        blocks.append(f"{text} {labels[demo.answer]}")
    blocks.append(body(example, fmt)[0])
    return "\n\n".join(blocks)
