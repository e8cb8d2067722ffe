"""`ftboot eval`: systems of known quality ranked with separating intervals, the position-swapped judge, checks,
model = "auto" from the upload ledger, located config errors, and a rerun that pays for nothing twice."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.schema import example_id
from tests.fake_eval import KEY
from tests.helpers import varied_examples, write_jsonl
from tests.labelstudio_fixtures import manual_region

SYSTEMS = {"oracle": "oracle", "paraphrase": "paraphrase", "noise": "noise"}


def configure(project: Path, systems: dict[str, str], shots: dict[str, int] | None = None, extra: str = "") -> None:
    text = "".join(
        f'\n[eval.systems.{name}]\nmodel = "{model}"\nshots = {(shots or {}).get(name, 0)}\n'
        for name, model in systems.items()
    )
    with open(project / "ftboot.toml", "a", encoding="utf-8") as handle:
        handle.write(text + extra)


def write_test_set(project: Path, evalapi, n: int = 40) -> list[dict]:
    examples = varied_examples(n, seed=7)
    write_jsonl(project / "outputs" / "test.jsonl", examples)
    evalapi.learn(examples)
    return examples


def evaluate(run, systems: dict[str, str], *args: str) -> dict:
    # --systems: the demo's own local-model systems in ftboot.toml stay out of these runs
    result = run("eval", "--json", "--systems", ",".join(systems), *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_reference_paraphrase_noise_ranked_with_separate_intervals(project, run, evalapi):
    examples = write_test_set(project, evalapi)
    configure(project, SYSTEMS, extra="\n[eval.checks]\nmax_words = 15\n")
    result = evaluate(run, SYSTEMS, "--judge", "judge-fair")
    systems = result["systems"]
    assert result["test_items"] == 40
    for score in ("chrf", "rougeL"):
        assert systems["oracle"][score]["ci"][0] > systems["paraphrase"][score]["ci"][1]
        assert systems["paraphrase"][score]["ci"][0] > systems["noise"][score]["ci"][1]
    # references have about 20 words, paraphrases about 14, noise as many as the reference
    assert (
        systems["oracle"]["checks_pass"],
        systems["paraphrase"]["checks_pass"],
        systems["noise"]["checks_pass"],
    ) == (0, 1, 0)
    judged = result["pairwise"]["oracle vs noise"]["judge"]
    assert judged["wins"] == 40 and judged["score"]["ci"][0] > 0.5
    assert "oracle is better on quality than paraphrase" in result["verdict"]
    out = project / "outputs" / "eval"
    assert {"eval.md", "scores.png", "cost-quality.png", "answers.jsonl", "eval.json"} <= {
        p.name for p in out.iterdir()
    }
    assert result["verdict"] in (out / "eval.md").read_text()
    rows = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    assert len(rows) == 120
    assert {r["item"] for r in rows} == {example_id(e) for e in examples}
    assert all(r["endpoint"].startswith("127.0.0.1:") and r["model"] in SYSTEMS.values() and r["request"] for r in rows)
    assert KEY not in (out / "answers.jsonl").read_text() + (out / "eval.md").read_text()


def test_order_biased_judge_gives_only_ties(project, run, evalapi):
    write_test_set(project, evalapi, 12)
    configure(project, SYSTEMS)
    result = evaluate(run, SYSTEMS, "--judge", "judge-biased")
    for pair in result["pairwise"].values():
        assert (pair["judge"]["wins"], pair["judge"]["ties"], pair["judge"]["losses"]) == (0, 12, 0)


def test_rerun_pays_for_nothing_twice(project, run, evalapi):
    write_test_set(project, evalapi, 10)
    configure(project, SYSTEMS)
    first = evaluate(run, SYSTEMS, "--judge", "judge-fair")
    sent = len(evalapi.api.requests("/chat/completions"))
    assert sent == first["requests"]["sent"] == 3 * 10 + 3 * 2 * 10
    answers = (project / "outputs" / "eval" / "answers.jsonl").read_text()
    second = evaluate(run, SYSTEMS, "--judge", "judge-fair")
    assert len(evalapi.api.requests("/chat/completions")) == sent
    assert second["requests"] == {"sent": 0, "cached": sent}
    assert (project / "outputs" / "eval" / "answers.jsonl").read_text() == answers  # latencies measured once, kept
    assert second["systems"] == first["systems"]


def test_budget_stops_the_run_and_the_rerun_sends_only_the_rest(project, run, evalapi):
    write_test_set(project, evalapi, 10)
    configure(project, SYSTEMS)
    result = run("eval", "--systems", ",".join(SYSTEMS), "--max-requests", "7")
    assert result.exit_code == 1 and "--max-requests 7 reached" in result.stderr
    assert len(evalapi.api.requests("/chat/completions")) == 7
    assert not (project / "outputs" / "eval" / "eval.md").exists()
    evaluate(run, SYSTEMS)
    assert len(evalapi.api.requests("/chat/completions")) == 30


def test_max_cost_spans_models_each_at_its_own_price(project, run, evalapi):
    write_test_set(project, evalapi)
    pair = {"oracle": "oracle", "noise": "noise"}
    configure(project, pair)
    refused = run("eval", "--systems", "oracle,noise", "--max-cost", "1")
    assert refused.exit_code == 2 and "--max-cost needs the price of 'noise'" in refused.stderr
    assert not (project / "outputs" / "eval" / "answers.jsonl").exists()

    prices = {"oracle": 1000.0, "noise": 10.0}  # USD per million tokens, input and output alike
    with open(project / "ftboot.toml", "a", encoding="utf-8") as handle:
        handle.write("".join(f'\n[prices."{m}"]\ninput = {p}\noutput = {p}\n' for m, p in prices.items()))
    stopped = run("eval", "--systems", "oracle,noise", "--max-cost", "1")
    assert stopped.exit_code == 1 and "--max-cost $1 reached" in stopped.stderr
    rows = [json.loads(line) for line in (project / "outputs" / "eval" / "answers.jsonl").read_text().splitlines()]
    spent = sum((r["prompt_tokens"] + r["completion_tokens"]) * prices[r["model"]] / 1e6 for r in rows)
    assert rows and 0 < spent <= 1  # at one price for both models the run would have stopped elsewhere or not at all
    assert evaluate(run, pair, "--max-cost", "10")["test_items"] == 40


def test_auto_finds_the_fine_tuned_model_and_shots_are_never_test_examples(project, run, evalapi):
    examples = write_test_set(project, evalapi, 30)
    ledger = [
        {"event": "job", "provider": "openai", "endpoint": evalapi.api.url, "job_id": "ftjob-1", "status": "running"},
        {
            "event": "status",
            "provider": "openai",
            "job_id": "ftjob-1",
            "status": "succeeded",
            "fine_tuned_model": "ft:gpt-4o-mini:acme::abc123",
        },
    ]
    write_jsonl(project / "outputs" / "uploads.jsonl", ledger)
    configure(project, {"few-shot": "paraphrase", "fine-tuned": "auto"}, {"few-shot": 3})
    result = evaluate(run, {"few-shot": "", "fine-tuned": ""})
    assert result["systems"]["fine-tuned"]["model"] == "ft:gpt-4o-mini:acme::abc123"
    assert result["systems"]["fine-tuned"]["fine_tuned"] is True
    assert result["verdict"].startswith("the fine-tune is better on quality")
    bodies = [r.json() for r in evalapi.api.requests("/chat/completions")]
    assert {b["model"] for b in bodies} == {"paraphrase", "ft:gpt-4o-mini:acme::abc123"}
    few = [b for b in bodies if b["model"] == "paraphrase"]
    # the test example's system message, three seeds' turns, then the prompt
    assert all(b["messages"][0]["role"] == "system" and b["messages"][-1]["role"] == "user" for b in few)
    assert all(sum(m["role"] == "assistant" for m in b["messages"]) >= 3 for b in few)
    held = {example_id(e) for e in examples}
    rows = [json.loads(line) for line in (project / "outputs" / "eval" / "answers.jsonl").read_text().splitlines()]
    shown = {shot for r in rows for shot in r["shots"]}
    assert len(shown) >= 3 and not shown & held
    texts = {m["content"] for b in few for m in b["messages"][1:-1]}
    assert not texts & {m["content"] for e in examples for m in e["messages"]}


def test_auto_without_a_succeeded_job_is_a_located_error(project, run, evalapi):
    write_test_set(project, evalapi, 3)
    configure(project, {"fine-tuned": "auto"})
    result = run("eval")
    assert result.exit_code == 2
    lines = (project / "ftboot.toml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if text == 'model = "auto"')
    assert f"ftboot.toml:{line}" in result.stderr and "eval.systems.fine-tuned.model" in result.stderr
    assert "Traceback" not in result.output


def test_bad_eval_config_is_a_located_error_and_writes_nothing(project, run, evalapi):
    write_test_set(project, evalapi, 3)
    configure(project, SYSTEMS, extra='\n[eval.checks]\nregex = "(unclosed"\n')
    result = run("eval")
    assert result.exit_code == 2
    assert "eval.checks.regex" in result.stderr and "ftboot.toml:" in result.stderr
    assert not (project / "outputs" / "eval").exists()

    text = (project / "ftboot.toml").read_text().replace('regex = "(unclosed"', 'json_schema = { type = "nonsense" }')
    (project / "ftboot.toml").write_text(text)
    result = run("eval")
    assert result.exit_code == 2 and "eval.checks.json_schema" in result.stderr

    (project / "ftboot.toml").write_text(text.replace('model = "oracle"\nshots = 0', 'model = "oracle"\nshot = 0'))
    result = run("eval")
    assert result.exit_code == 2 and "unknown key" in result.stderr and "eval.systems.oracle.shot" in result.stderr
    assert not evalapi.api.requests("/chat/completions")


def test_unknown_system_and_missing_test_set(project, run, evalapi):
    configure(project, SYSTEMS)
    result = run("eval")
    assert result.exit_code == 2 and "outputs/test.jsonl" in result.stderr
    write_test_set(project, evalapi, 3)
    result = run("eval", "--systems", "oracle,nope")
    assert result.exit_code == 2 and "nope" in result.stderr


def test_blind_human_pairwise_in_label_studio(review_project, run, evalapi, labelstudio):
    project = review_project
    examples = write_test_set(project, evalapi, 6)
    configure(project, SYSTEMS)
    evaluate(run, {"oracle": "", "noise": ""}, "--judge", "judge-fair")
    pushed = json.loads(run("eval", "push", "--pair", "oracle,noise", "--json").stdout)
    assert pushed["pushed"] == 6
    assert json.loads(run("eval", "push", "--pair", "oracle,noise", "--json").stdout)["pushed"] == 0
    with labelstudio.http() as http:
        title = http.get(f"/api/projects/{pushed['project_id']}").raise_for_status().json()["title"]
        tasks = (
            http.get("/api/tasks", params={"project": pushed["project_id"], "fields": "all"})
            .raise_for_status()
            .json()["tasks"]
        )
    assert len(tasks) == 6
    for text in ("oracle", "noise"):  # blind: no system named anywhere a reviewer can look
        assert text not in title and not any(text in json.dumps(t["data"]) for t in tasks)
    references = {e["messages"][-1]["content"] for e in examples}
    firsts = [t["data"]["answer_1"] in references for t in tasks]
    assert any(firsts) and not all(firsts)  # the order is drawn per item
    for number, task in enumerate(tasks):
        choice = "Tie" if number == 0 else "Answer 1" if task["data"]["answer_1"] in references else "Answer 2"
        body = {
            "result": [manual_region("preference", "prompt", "choices", {"choices": [choice]})],
            "lead_time": 3.0,
        }
        with labelstudio.http() as http:
            http.post(f"/api/tasks/{task['id']}/annotations", json=body).raise_for_status()
    human = json.loads(run("eval", "pull", "--json").stdout)["oracle vs noise"]
    assert (human["wins"], human["ties"], human["losses"]) == (5, 1, 0)
    assert human["judge_agreement"] == round(5 / 6, 3)  # the judge saw the oracle win all six
    assert "| oracle vs noise | 6 / 0 / 0 |" in (project / "outputs" / "eval" / "eval.md").read_text()
