"""The tokenizers diagnosis behind RESULTS' machine notes, as a command: how many windows the transfer
experiment's QA data needs, and what a tokenizer that returns at most one overflow window per question
(tokenizers 0.23.1 and 0.23.2, huggingface/tokenizers#2091) takes away.

    python bench/tokenizer_windows.py [--model .carry/minilm]

For the SQuAD-1k target (training and held-out questions) and the PolicyQA and SubjQA sources (2,000
training questions each), with the installed tokenizers and the experiment's windows (256 tokens,
stride 64): windows the tokenizer returns, questions needing more than two, the windows and the answers
a two-window cap loses. The library itself refuses a tokenizer whose windows stop short
(``itft_utils.qa``); this script calls the tokenizer directly, so it also runs under a broken release
(``pip install --target /tmp/tok tokenizers==0.23.1; PYTHONPATH=/tmp/tok python bench/tokenizer_windows.py``)
and then shows what that release actually returned.
"""
from __future__ import annotations

import argparse
import json

import common
import tokenizers

from itft_utils.homework import prepare_task, real_data_experiment, real_data_sources
from itft_utils.models import load_tokenizer

CAP = 2  # windows per question that tokenizers 0.23.1 / 0.23.2 return


def windows(examples: list[dict], tokenizer, max_length: int, stride: int) -> dict:
    """Window counts per question and what a cap of CAP windows per question loses."""
    enc = tokenizer([ex["question"].lstrip() for ex in examples], [ex["context"] for ex in examples],
                    truncation="only_second", max_length=max_length, stride=stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True, padding=False)
    per_question: dict[int, list[int]] = {}
    for i, sample in enumerate(enc["overflow_to_sample_mapping"]):
        per_question.setdefault(sample, []).append(i)
    lost_answers = 0
    for sample, ids in per_question.items():
        answers = examples[sample]["answers"]
        if len(ids) <= CAP or not answers["answer_start"]:
            continue
        kept_end = max(end for w in ids[:CAP] for (_, end), seq in zip(enc["offset_mapping"][w], enc.sequence_ids(w)) if seq == 1)
        ends = [start + len(text) for start, text in zip(answers["answer_start"], answers["text"])]
        lost_answers += all(end > kept_end for end in ends)  # every gold answer lies beyond the kept windows
    counts = [len(ids) for ids in per_question.values()]
    over = [c for c in counts if c > CAP]
    return {"questions": len(examples), "windows": len(enc["input_ids"]), "questions_over_cap": len(over),
            "windows_per_question_over_cap": [min(over), max(over)] if over else [],
            "windows_under_cap": sum(min(c, CAP) for c in counts),
            "windows_lost_under_cap": sum(c - CAP for c in over), "answers_lost_under_cap": lost_answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm", help="the tokenizer's model (any MiniLM copy: same vocabulary)")
    args = parser.parse_args()
    data_dir = common.data_dir_or_exit()
    experiment = real_data_experiment(data_dir)
    settings = experiment.settings
    tokenizer = load_tokenizer(args.model)
    target = prepare_task(experiment.target, data_dir)
    sets = {"squad-1k train": target.train, "squad-1k held out": target.eval}
    for spec in real_data_sources():
        if spec.name in ("policyqa", "subjqa"):
            sets[f"{spec.name} train"] = prepare_task(spec, data_dir).train
    print(f"tokenizers {tokenizers.__version__}; windows of {settings.max_length} tokens, stride {settings.doc_stride}; "
          f"'cap': at most {CAP} windows per question, as tokenizers 0.23.1 and 0.23.2 return")
    print("| questions | count | windows returned | need > 2 windows | windows under the cap (kept share) | "
          "windows lost | questions losing every gold answer |")
    print("|---|---|---|---|---|---|---|")
    report = {}
    for name, examples in sets.items():
        r = windows(examples, tokenizer, settings.max_length, settings.doc_stride)
        report[name] = r
        span = "–".join(str(x) for x in r["windows_per_question_over_cap"]) or "-"
        print(f"| {name} | {r['questions']} | {r['windows']} | {r['questions_over_cap']} "
              f"({100 * r['questions_over_cap'] / r['questions']:.0f} %; {span} windows) | {r['windows_under_cap']} "
              f"({100 * r['windows_under_cap'] / r['windows']:.0f} %) | {r['windows_lost_under_cap']} | {r['answers_lost_under_cap']} |")
    print(json.dumps({"tokenizers": tokenizers.__version__, "sets": report}))


if __name__ == "__main__":
    main()
