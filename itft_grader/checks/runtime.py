"""What a trusted check sends into a student's kernel: this file's text, run there as it is.

The kernel calls the student's functions through the check's probes and answers with plain data
(``plain``) in one framed JSON line on stdout. Everything here runs in a process the student
controls, so nothing here decides a score: a kernel that lies only changes the values it answers,
and the grader compares those with values it computed itself (``checks/scoring.py``).
The file imports nothing outside the standard library at module level, so that the same text runs
in the kernel and in the grader's own process (for the references).
"""
import json
import sys

FRAME = "itft-check-result "  # starts the one line the grader reads (with the request's nonce)


def raises(exc_type, fn, *args, **kwargs):
    """True when ``fn(*args, **kwargs)`` raises ``exc_type`` (a subclass counts)."""
    try:
        fn(*args, **kwargs)
    except exc_type:
        return True
    except Exception:  # noqa: BLE001 - another exception is a failed check, not a crash
        return False
    return False


def plain(value, depth=0):
    """``value`` as JSON-able plain data: arrays and tensors as nested lists of their values."""
    if depth > 40:
        raise TypeError("the value is nested too deeply")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value
    if type(value) is float:
        return value  # NaN and infinities too: JSON's NaN and Infinity, which the grader reads back
    if type(value) in (list, tuple):
        return [plain(v, depth + 1) for v in value]
    if type(value) is dict:
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    module = type(value).__module__.split(".")[0]
    if module in ("numpy", "torch") and hasattr(value, "tolist"):
        if module == "torch":
            value = value.detach().cpu()
        return plain(value.tolist(), depth + 1)
    raise TypeError(f"a {type(value).__name__}, not plain data (numbers, strings, lists, dicts, arrays)")


def run_probes(namespace, probes, nonce):
    """Run each probe ``(source, name, parameters)`` on the objects ``namespace`` holds under its
    parameters' names and print one framed line: ``[{"value": ...} or {"error": "..."}, ...]``."""
    answers = []
    for source, name, parameters in probes:
        try:
            missing = [p for p in parameters if p not in namespace]
            if missing:
                raise NameError(f"name {missing[0]!r} is not defined (run the cell that defines it)")
            scope = {"__name__": "itft_probe", "raises": raises}
            exec(source, scope)
            answers.append({"value": plain(scope[name](**{p: namespace[p] for p in parameters}))})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything, SystemExit included
            answers.append({"error": f"{type(exc).__name__}: {exc}"[:500]})
    sys.stdout.write("\n" + FRAME + nonce + " " + json.dumps(answers) + "\n")
    sys.stdout.flush()
