"""Inspect tasks built into the trainer, named msm/<name> in a manifest: they need no package and download
nothing (their data comes in the manifest). A capabilities job resolves these names before Inspect's registry
of installed packages."""

from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import choice
from inspect_ai.solver import multiple_choice as multiple_choice_solver

from .errors import BadInput


@task(name="msm/multiple_choice")
def multiple_choice(samples: list[dict[str, Any]], cot: bool = False) -> Task:
    """Questions given inline ({"id", "question", "choices", "target": the correct choice's letter}), asked
    with Inspect's multiple-choice prompt (the choices lettered A, B, ...) and scored by the letter the model
    answers: C when it is the target, else I. cot: let the model reason before it answers (needs more tokens)."""
    dataset = MemoryDataset(
        [Sample(input=s["question"], choices=s["choices"], target=s["target"], id=s["id"]) for s in samples],
        name="msm-multiple-choice",
    )
    return Task(dataset=dataset, solver=multiple_choice_solver(cot=cot), scorer=choice())


# Task name -> its function (a registered Inspect task: check_params and task_create read its registry info).
BUILTIN = {"msm/multiple_choice": multiple_choice}
# Arguments the job passes from the check itself, not from its params.
SUPPLIED = {"msm/multiple_choice": ("samples",)}


def builtin_task(name: str, where: str):
    """The built-in task of an msm/<name>, or None for another package's name."""
    if not name.startswith("msm/"):
        return None
    if name not in BUILTIN:
        raise BadInput(f"manifest field {where}: {name} is not a task built into the trainer; use {', '.join(BUILTIN)}")
    return BUILTIN[name]
