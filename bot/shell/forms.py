"""Filling in a modal at the terminal: one prompt per input, answers sent as Slack sends them.

The answers become ``view.state.values`` in Slack's shape, so the dispatcher reads a form
from the shell exactly as it reads one from Slack, with the same field errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.shell.render import Renderer

CANCEL = ":cancel"
Ask = Callable[[str], str | None]  # None: end of input
Submit = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Field:
    """One input block of a modal."""

    block_id: str
    action_id: str
    kind: str  # plain_text_input | static_select
    label: str
    optional: bool
    hint: str
    options: tuple[str, ...]
    initial: str | None
    max_length: int | None

    @classmethod
    def of(cls, block: Mapping[str, Any]) -> Field:
        element = block.get("element", {})
        initial = element.get("initial_option") or None
        return cls(
            block_id=str(block.get("block_id", "")),
            action_id=str(element.get("action_id", "value")),
            kind=str(element.get("type", "plain_text_input")),
            label=str(block.get("label", {}).get("text", block.get("block_id", ""))),
            optional=bool(block.get("optional", False)),
            hint=str((block.get("hint") or {}).get("text", "")),
            options=tuple(str(o["value"]) for o in _options(element)),
            initial=str(initial["value"]) if initial else element.get("initial_value"),
            max_length=element.get("max_length"),
        )

    def state(self, answer: str | None) -> dict[str, Any]:
        """This field's entry in ``state.values``, as Slack would send it."""
        if self.kind == "static_select":
            chosen = {"text": {"type": "plain_text", "text": answer}, "value": answer}
            return {
                self.action_id: {"type": self.kind, "selected_option": chosen if answer else None}
            }
        return {self.action_id: {"type": self.kind, "value": answer}}


def _options(element: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A menu's options, whether listed or in groups (a menu of more than 100 has groups)."""
    groups = element.get("option_groups") or [{"options": element.get("options", [])}]
    return [option for group in groups for option in group.get("options", [])]


class FormCancelled(Exception):
    """The person cancelled the form, or input ended while it was open."""


class FormFiller:
    """Asks for each field of a modal in order, validates like Slack's client, submits."""

    def __init__(self, ask: Ask, write: Callable[[str], None], renderer: Renderer) -> None:
        self.ask = ask
        self.write = write
        self.renderer = renderer

    def fill(self, view: Mapping[str, Any], submit: Submit) -> Any:
        """Prompt, submit, and re-ask the fields the submission refused, until it is taken.

        Returns what ``submit`` returned last (the reply); raises FormCancelled.
        """
        title = str(view.get("title", {}).get("text", "Form"))
        self.write(f"┌ {title} — answer each field; {CANCEL} leaves the form without saving.")
        fields = []
        for block in view.get("blocks", []):
            if block.get("type") == "input":
                fields.append(Field.of(block))
            elif block.get("type") in ("section", "context", "header"):
                shown = self.renderer.blocks([block]).text
                self.write("│ " + shown.replace("\n", "\n│ "))
        answers = {f.block_id: self._ask_field(f) for f in fields}
        while True:
            state = {f.block_id: f.state(answers[f.block_id]) for f in fields}
            result = submit(state)
            if not isinstance(result, dict):
                self.write("└ submitted.")
                return result
            redo = [f for f in fields if f.block_id in result]
            for block_id, problem in result.items():
                label = next((f.label for f in fields if f.block_id == block_id), block_id)
                self.write(f"│ ⚠️ {label}: {problem}")
            if not redo:
                raise FormCancelled("The form was refused and there is no field to correct.")
            for f in redo:
                answers[f.block_id] = self._ask_field(f)

    def _ask_field(self, f: Field) -> str | None:
        need = "optional" if f.optional else "required"
        self.write(f"│ {f.label} ({need})" + (f" — {f.hint}" if f.hint else ""))
        if f.kind == "static_select":
            for number, option in enumerate(f.options, 1):
                mark = "  (default)" if option == f.initial else ""
                self.write(f"│   {number}) {option}{mark}")
        while True:
            try:
                answer = self.ask("│ > ")
            except KeyboardInterrupt:  # Ctrl-C leaves the form, not the shell
                self.write("")
                answer = None
            if answer is None or answer.strip() == CANCEL:
                raise FormCancelled("Form cancelled; nothing was saved.")
            answer = answer.strip()
            if not answer:
                if f.initial:
                    return f.initial
                if f.optional:
                    return None
                self.write("│ This field is required.")
                continue
            problem, value = self._check(f, answer)
            if problem is None:
                return value
            self.write(f"│ {problem}")

    def _check(self, f: Field, answer: str) -> tuple[str | None, str]:
        if f.kind == "static_select":
            if answer.isdigit() and 1 <= int(answer) <= len(f.options):
                return None, f.options[int(answer) - 1]
            match = [o for o in f.options if o.lower() == answer.lower()]
            if match:
                return None, match[0]
            return f"Choose 1–{len(f.options)} (or type the option).", answer
        if f.max_length is not None and len(answer) > f.max_length:
            return f"At most {f.max_length} characters (this is {len(answer)}).", answer
        return None, answer
