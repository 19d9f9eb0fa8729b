"""Self-checks for students working alone (the student edition, ``make student``).

Every exercise that asks for numbers has an entry in the answer key :data:`ANSWER_KEY`: the numbers its solution
computes, each with the tolerance within which an answer counts as right. In the student edition, where the
solutions are removed, the exercise ends in a cell that calls :func:`self_check` on the student's numbers: it
says, number by number, *right* or how far off (in per cent, or as too high / too low), never the value itself.
In the book, each solution calls :func:`solution_agrees` on the numbers it has just computed, so the key cannot
drift from the solutions unnoticed.

The key is plain data: a student who reads this file reads the answers, as with the solutions at the back of
a textbook.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["ANSWER_KEY", "Answer", "self_check", "solution_agrees", "student_cell"]


class Answer(dict):
    """One exercise's key: ``name -> (value, tolerance)``; a name says what the number is (the student edition
    shows the names), a value is a number or a bool (a yes/no answer, tolerance 0)."""


#: exercise label -> its numbers (name -> (value, absolute tolerance)); the values are those its solution computes
ANSWER_KEY: dict[str, Answer] = {
    "ch1-ex-sizes": Answer({
        "C_s": (64, 0), "C_c": (4, 0), "N": (49, 0), "Delta": (0.25, 1e-3),
        "kappa_c for Delta = 0": (0.5, 1e-3), "C_c for Delta = 0": (16, 0)}),
    "ch1-ex-masked-areas": Answer({
        "fraction of local areas with no visible patch, gamma = 0.3": (0.0081, 0.0015),
        "the same fraction at gamma = 1/2": (0.0625, 0.003)}),
    "ch3-ex-masking": Answer({
        "factor by which rho changes, gamma 1/2 -> 1/4 (exact, init_rates)": (1.349, 0.01),
        "factor by which rho changes, gamma 1/2 -> 3/4 (exact, init_rates)": (0.559, 0.01)}),
    "ch4-ex-predict": Answer({
        "Delta at C_s = 8": (-1 / 3, 0.005), "rho at C_s = 8": (0.198, 0.005), "Phase I at C_s = 8": (False, 0),
        "Delta at C_s = 32": (1 / 3, 0.005), "rho at C_s = 32": (2.148, 0.01), "Phase I at C_s = 32": (True, 0)}),
    "ch5-ex-negatives": Answer({
        "global-area attention after 50 steps, no negative": (0.341, 0.005),
        "global-area attention after 50 steps, one negative": (0.998, 0.01)}),
    "ch7-ex-batch": Answer({
        "noise factor of a batch of 2 against a batch of 32": (4.0, 1.0)}),
    "ch8-ex-push": Answer({
        "expected push ratio, global area of 20 / local area of 10": (2.0, 0.1),
        "expected push ratio, two tied areas of 10": (1.0, 0.05)}),
    "ch9-ex-tails": Answer({
        "smallest alpha of the sweep with a finite third moment": (4.0, 0),
        "median share of the largest draw in the sum of z^3, alpha = 6": (0.002, 0.002)}),
    "ch11-ex-cl-loss": Answer({
        "ln 32": (3.466, 0.01),
        "CL loss of pure MAE, Delta = -0.33": (3.41, 0.05), "CL loss of pure MAE, Delta = +0.33": (3.26, 0.05)}),
    "ch13-ex-distance": Answer({
        "attention distance of an interior query": (1.073, 0.002),
        "average over all 64 queries": (1.021, 0.002)}),
    "ch14-ex-cosine": Answer({
        "share of (run, cluster) pairs landing on the global area, one negative": (0.25, 0.24)}),
}


def _key(label: str) -> Answer:
    if not isinstance(label, str) or label not in ANSWER_KEY:
        raise ValueError(f"label={label!r} is not allowed: the label of an exercise with numbers, one of "
                         f"{sorted(ANSWER_KEY)}")
    return ANSWER_KEY[label]


def _number(name: str, value: Any, yes_no: bool) -> float | bool:
    """A student's (or a solution's) value as a float, or a bool for a yes/no answer; ValueError otherwise."""
    if yes_no:
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        raise ValueError(f"{name!r}: {value!r} is not allowed: True or False")
    if isinstance(value, bool):
        raise ValueError(f"{name!r}: {value!r} is not allowed: a number, not True or False")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r}: {value!r} is not allowed: a finite number") from None
    if not math.isfinite(x):
        raise ValueError(f"{name!r}: {value!r} is not allowed: a finite number")
    return x


def _as_mapping(key: Answer, answer: Any) -> Mapping[str, Any]:
    if isinstance(answer, Mapping):
        unknown = sorted(set(answer) - set(key))
        if unknown:
            raise ValueError(f"answer names {unknown} are not allowed: the names are {list(key)}")
        return answer
    if len(key) == 1:
        return {next(iter(key)): answer}
    raise ValueError(f"answer={answer!r} is not allowed: a dict with the names {list(key)}")


def _verdict(value: float | bool, target: float | bool, tol: float) -> tuple[bool, str]:
    if isinstance(target, bool):
        return value == target, "right" if value == target else "not right"
    if abs(value - target) <= tol:
        return True, f"right (within ±{tol:g})"
    side = "too high" if value > target else "too low"
    if target != 0:
        return False, f"{side}, by about {abs(value - target) / abs(target):.0%} (an answer within ±{tol:g} counts)"
    return False, f"{side} (an answer within ±{tol:g} counts)"


def self_check(label: str, answer: Any) -> bool:
    """Check a student's answer to exercise ``label`` against its solution's numbers, without showing them.

    ``answer``: a dict ``name -> value`` with the names the student edition's cell lists (a number alone for an
    exercise with one number); a value left as ``None`` is skipped. Prints one line per number: right, or too
    high / too low and by how much relative to the solution's value; returns True when every number given is
    right. Raises ``ValueError`` for an unknown label, an unknown name or a value that is not a finite number
    (or True / False for a yes/no answer).
    """
    key = _key(label)
    given = {n: v for n, v in _as_mapping(key, answer).items() if v is not None}
    if not given:
        print(f"{label}: nothing to check yet; replace None by your answers and run the cell again")
        return False
    all_right = True
    for name, (target, tol) in key.items():
        if name not in given:
            print(f"  {name}: not answered")
            continue
        ok, words = _verdict(_number(name, given[name], isinstance(target, bool)), target, tol)
        all_right &= ok
        print(f"  {name}: {words}")
    missing = len(key) - len(given)
    print(f"{label}: {'all answers given are right' if all_right else 'not yet'}"
          + (f"; {missing} not answered" if missing else ""))
    return all_right and not missing


def solution_agrees(label: str, values: Mapping[str, Any]) -> bool:
    """True when the self-check would call every number a solution computes right (``name -> value``, every name
    of the key, each within its tolerance of the key's value): the book's solutions call it, so that the student
    edition's self-check judges by the solution. Raises ``ValueError`` for a missing or unknown name or a value that is not a number."""
    key = _key(label)
    if not isinstance(values, Mapping) or set(values) != set(key):
        raise ValueError(f"values={values!r} is not allowed: a dict with exactly the names {list(key)}")
    for name, (target, tol) in key.items():
        value = _number(name, values[name], isinstance(target, bool))
        if isinstance(target, bool):
            if value != target:
                return False
        elif abs(value - target) > tol:
            return False
    return True


def student_cell(label: str) -> str:
    """The source of the student edition's self-check cell for exercise ``label``: a dict of the key's names,
    each set to None for the student to replace, and the call of :func:`self_check`."""
    key = _key(label)
    width = max(len(repr(n)) for n in key)
    lines = [f"    {name!r:<{width}}: None," for name in key]
    return ("# Self-check: replace each None by your answer (a number; True or False for a yes/no question)\n"
            "from sslvit.selfcheck import self_check\n\n"
            "answer = {\n" + "\n".join(lines) + "\n}\n"
            f"self_check({label!r}, answer)")
