"""Blind human judgement of two systems in Label Studio, and how far the LLM judge agrees with people.

`push` makes one Label Studio project per pair: each task shows the prompt and the two systems' answers side by
side as "Answer 1" and "Answer 2" in an order drawn per item, with the reference folded away in a panel, and asks
which is better (or a tie). Neither the task nor the project title names a system: which answer came from which
system is kept only in `outputs/eval/human-pairs.jsonl`. Pushing again adds only the items not there yet.

`pull` reads every submitted judgement back, turns it into a win, tie or loss of the pair's first system, and
adds to `eval.json` and `eval.md` the human wins/ties/losses with an interval and the share of judgements on which
the LLM judge's outcome (from the last `ftboot eval --judge`) is the same. It leaves who may annotate to Label
Studio.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from pipeline.errors import InputError, Location
from pipeline.eval.judge import tally
from pipeline.eval.report import write
from pipeline.eval.results import EvalResult, HumanTally, Pushed
from pipeline.eval.systems import load_items
from pipeline.jsonl import read_jsonl
from pipeline.labelstudio.adapter import Server
from pipeline.project import Project
from pipeline.writes import Appender

CHOICES = ("Answer 1", "Answer 2", "Tie")
LABEL_CONFIG = """<View>
  <Header value="Which answer fulfils the request better?"/>
  <Text name="prompt" value="$prompt"/>
  <View style="display: flex; gap: 1.5em;">
    <View style="flex: 1;"><Header value="Answer 1" size="5"/><Text name="answer_1" value="$answer_1"/></View>
    <View style="flex: 1;"><Header value="Answer 2" size="5"/><Text name="answer_2" value="$answer_2"/></View>
  </View>
  <Collapse><Panel value="Reference answer (open it after you have judged)"><Text name="reference" value="$reference"/></Panel></Collapse>
  <Choices name="preference" toName="prompt" choice="single" showInline="true" required="true">
    <Choice value="Answer 1"/><Choice value="Answer 2"/><Choice value="Tie"/>
  </Choices>
</View>"""


def _result(project: Project) -> EvalResult:
    path = project.paths.eval_json
    if not path.exists():
        raise InputError("no eval yet", Location(project.show(path)), hint="run `ftboot eval` first")
    return json.loads(path.read_text(encoding="utf-8"))


def _token(pair: str, item: str) -> str:
    return hashlib.sha256(f"{pair}:{item}".encode()).hexdigest()[:16]


def _title(project: Project, pair: str) -> str:
    return f"{project.config.labelstudio.project_title} · pairwise {hashlib.sha256(pair.encode()).hexdigest()[:6]}"


def push(project: Project, pair_option: str) -> Pushed:
    """Send the two systems' answers of every test item of the last eval as blind pairwise tasks."""
    names = [n.strip() for n in pair_option.split(",")]
    result = _result(project)
    if len(names) != 2 or names[0] == names[1] or not set(names) <= set(result["systems"]):
        raise InputError(
            f"--pair needs two different systems of the last eval ({', '.join(result['systems'])})", Location("--pair")
        )
    a, b = names
    pair = f"{a} vs {b}"
    items = load_items(project.root / result["test_file"], result["test_file"])
    answers: dict[tuple[str, str], str] = {}
    for _, row in read_jsonl(project.paths.answers, tolerate_torn_tail=True):
        answers.setdefault((row["system"], row["item"]), row["answer"])
    server = Server.connect(project)
    project_id = server.ensure_plain_project(_title(project, pair), LABEL_CONFIG)
    there = server.data_values(project_id, "pair_item")
    tasks, orders = [], []
    for item in items:
        token = _token(pair, item.id)
        if token in there or (a, item.id) not in answers or (b, item.id) not in answers:
            continue
        first, second = (a, b) if random.Random(token).random() < 0.5 else (b, a)
        prompt = "\n\n".join(f"[{m['role']}] {m['content']}" for m in item.prompt if m["role"] != "system")
        tasks.append(
            {
                "pair_item": token,
                "prompt": prompt,
                "answer_1": answers[(first, item.id)],
                "answer_2": answers[(second, item.id)],
                "reference": item.reference,
            }
        )
        orders.append({"pair": pair, "item": item.id, "token": token, "first": first, "project_id": project_id})
    if tasks:
        with Appender(project.paths.human_pairs) as out:  # the order is saved before the tasks exist
            for order in orders:
                out.write(order)
        server.import_tasks(project_id, tasks)
    return {
        "pair": pair,
        "project_id": project_id,
        "pushed": len(tasks),
        "already": len(there),
        "url": f"{server.url}/projects/{project_id}/data",
    }


def _choice(annotation: dict[str, Any]) -> str | None:
    for item in annotation.get("result") or []:
        if item.get("from_name") == "preference":
            chosen = (item.get("value") or {}).get("choices") or []
            return chosen[0] if chosen and chosen[0] in CHOICES else None
    return None


def pull(project: Project) -> dict[str, HumanTally]:
    """Human wins per pushed pair, and the judge's agreement with them; written into eval.json and eval.md."""
    path = project.paths.human_pairs
    if not path.exists():
        raise InputError(
            "no pairwise tasks pushed yet", Location(project.show(path)), hint="run `ftboot eval push --pair A,B` first"
        )
    orders = {row["token"]: row for _, row in read_jsonl(path, tolerate_torn_tail=True)}
    result = _result(project)
    server = Server.connect(project)
    found: dict[str, dict[str, Any]] = {}
    for project_id in sorted({row["project_id"] for row in orders.values()}):
        for task in json.loads(
            server.export(project_id)
        ):  # our own tasks: pipeline.review.lsexport reads review exports
            order = orders.get(str((task.get("data") or {}).get("pair_item")))
            if order is None:
                continue
            pair = order["pair"]
            a = pair.split(" vs ")[0]
            compared = result["pairwise"].get(pair)
            judged = compared["judge"] if compared else None
            judge_of = dict(zip(judged.get("items", []), judged.get("outcomes", []), strict=True)) if judged else {}
            entry = found.setdefault(pair, {"outcomes": [], "agree": 0, "compared": 0})
            for annotation in task.get("annotations") or []:
                choice = _choice(annotation)
                if annotation.get("was_cancelled") or choice is None:
                    continue
                first_wins = {"Answer 1": True, "Answer 2": False}.get(choice)
                outcome = "tie" if first_wins is None else "win" if first_wins == (order["first"] == a) else "loss"
                entry["outcomes"].append(outcome)
                if order["item"] in judge_of:
                    entry["compared"] += 1
                    entry["agree"] += judge_of[order["item"]] == outcome
    resamples = project.config.eval.resamples
    for pair, entry in found.items():
        human: HumanTally = {
            **tally(entry["outcomes"], resamples),
            "judgements": len(entry["outcomes"]),
            "judge_agreement": round(entry["agree"] / entry["compared"], 3) if entry["compared"] else None,
        }
        result["pairwise"].setdefault(pair, {"judge": None, "human": None})["human"] = human
    write(result, project.paths)
    return {pair: tallied for pair, row in result["pairwise"].items() if (tallied := row.get("human"))}
