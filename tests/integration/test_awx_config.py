"""playbooks/awx: AWX as code with the awx.awx collection (24.6.1, bundled with the pinned ansible).

What is tested here, without an AWX: the playbook passes --syntax-check, ansible-lint (production) and
yamllint --strict; every task's arguments pass the real awx.awx module's argument spec (the tasks run
against a closed loopback port, so each module validates its arguments and then fails to connect: an
argument error would fail differently); the credential task hides its output (no_log); the surveys are
well formed; and the answers of a survey, combined with the job template's own extra_vars exactly as
AWX passes them (one extra-vars file), give site.yml's play the intended hosts and waves on the example
fleet. What needs a real AWX: that the API accepts the objects, the project sync, the inventory import,
the credential injection and a job run (README, "Fleet and AWX").
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfstack.collection import collections_root
from tfstack.paths import REPO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib

from site_waves import site_waves  # noqa: E402

BIN = Path(sys.executable).parent
AWX = REPO / "playbooks" / "awx"
INVENTORY = REPO / "inventories" / "example-fleet"
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
CONNECTION_ERRORS = ("network error of some kind", "Connection refused", "Failed to connect", "Unable to resolve")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _yaml(path):
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader that reads !unsafe)


VARS = _yaml(AWX / "vars" / "main.yml")
TASKS = _yaml(AWX / "tasks" / "configure.yml")


def _env(tmp_path, **extra):
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_NOCOLOR="1",
                ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
                **extra)


def _run(cmd, env, ok=True, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))}: rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
    return proc


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on return: nothing listens there


def test_configure_playbook_passes_syntax_check_ansible_lint_and_yamllint(tmp_path):
    env = _env(tmp_path)
    _run([BIN / "ansible-playbook", "--syntax-check", AWX / "configure.yml"], env)
    _run([BIN / "yamllint", "--strict", AWX], env)
    lint = _run([BIN / "ansible-lint", "--profile", "production", "--offline", AWX], env, ok=False)
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-4000:]


@pytest.fixture(scope="module")
def task_results(tmp_path_factory):
    """Run the real tasks against a closed port: {task name: [results, one per loop item]}."""
    tmp = tmp_path_factory.mktemp("awx")
    wrapper = [{
        "name": "Run the AWX tasks against nothing", "hosts": "localhost", "connection": "local",
        "gather_facts": False, "vars_files": [str(AWX / "vars" / "main.yml")],
        "tasks": [{"name": "Include the AWX tasks", "ansible.builtin.include_tasks": {
            "file": str(AWX / "tasks" / "configure.yml"), "apply": {"ignore_errors": True}}}],
    }]
    (tmp / "wrapper.yml").write_text(yaml.safe_dump(wrapper, sort_keys=False))
    env = _env(tmp, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               CONTROLLER_HOST=f"https://127.0.0.1:{_closed_port()}", CONTROLLER_USERNAME="nobody",
               CONTROLLER_PASSWORD="not-a-secret", CONTROLLER_VERIFY_SSL="false",
               TRACEFLEET_AWX_FLEET_KUBECONFIG="", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = _run([BIN / "ansible-playbook", "-i", "localhost,", tmp / "wrapper.yml"], env, timeout=300)
    results = {}
    for task in json.loads(proc.stdout)["plays"][0]["tasks"]:
        result = task["hosts"]["localhost"]
        results[task["task"]["name"]] = result.get("results", [result])
    return results


def test_every_task_passes_the_awx_module_argument_spec(task_results):
    names = [task["name"] for task in TASKS]
    assert [n for n in names if n not in task_results] == [], sorted(task_results)
    for task in TASKS:
        results = task_results[task["name"]]
        expected = len(VARS["tracefleet_awx_job_templates"]) if "loop" in task else 1
        assert len(results) == expected, task["name"]
        for result in results:
            assert result.get("failed"), (task["name"], result)
            if task.get("no_log"):
                assert "censored" in result, (task["name"], result)  # the output is hidden, secrets included
                continue
            message = result.get("msg", "")
            assert any(text in message for text in CONNECTION_ERRORS), (task["name"], message)


def test_credential_task_hides_its_output_and_no_secret_is_in_the_files():
    credential = next(task for task in TASKS if "awx.awx.credential" in task)
    assert credential["no_log"] is True
    assert credential["awx.awx.credential"]["update_secrets"].startswith("{{")
    text = "".join(p.read_text() for p in AWX.rglob("*.yml"))
    for marker in ("BEGIN ", "client-key-data", "token:", "password:"):
        assert marker not in text, marker


def test_surveys_are_well_formed_and_every_answer_is_used():
    questions = VARS["tracefleet_awx_survey_questions"]
    for key, question in questions.items():
        assert question["type"] in SURVEY_TYPES, key
        assert {"question_name", "variable", "required", "default"} <= set(question), key
        if question["type"] == "multiplechoice":
            assert question["default"] in question["choices"].split("\n"), key
        if question["type"] == "integer":
            assert question["min"] <= question["default"] <= question["max"], key
    site = (REPO / "playbooks" / "site.yml").read_text()
    derived = json.dumps(VARS["tracefleet_awx_derived_vars"])
    for question in questions.values():
        assert question["variable"] in site or question["variable"] in derived, question["variable"]
    wanted = {"environment", "clusters_limit", "wave_size", "max_fail_percentage"}
    rollout = next(t for t in VARS["tracefleet_awx_job_templates"] if t["playbook"] == "playbooks/site.yml")
    assert set(rollout["survey"]) == wanted
    assert {t["playbook"] for t in VARS["tracefleet_awx_job_templates"]} == {
        "playbooks/site.yml", "playbooks/verify.yml", "playbooks/uninstall.yml"}


def test_workflow_runs_verify_after_a_successful_rollout():
    workflow = next(task for task in TASKS if "awx.awx.workflow_job_template" in task)["awx.awx.workflow_job_template"]
    nodes = {node["identifier"]: node for node in workflow["workflow_nodes"]}
    assert nodes["rollout"]["related"]["success_nodes"] == [{"identifier": "verify"}]
    assert nodes["rollout"]["unified_job_template"]["name"].endswith(" rollout")
    assert nodes["verify"]["unified_job_template"]["name"].endswith(" verify")


CASES = {
    "production, wave size 2": (
        {"tracefleet_environment": "production", "tracefleet_clusters_limit": "", "tracefleet_wave_size": "2",
         "tracefleet_max_fail_percentage": 0},
        [["prod-eu-west-2"], ["prod-eu-west-1", "prod-us-east-1"], ["prod-us-east-2", "prod-ap-southeast-1"]]),
    "production eu_west only, the rest at once": (
        {"tracefleet_environment": "production", "tracefleet_clusters_limit": "eu_west",
         "tracefleet_wave_size": "100%", "tracefleet_max_fail_percentage": 0},
        [["prod-eu-west-2"], ["prod-eu-west-1"]]),
    "staging, survey defaults": (
        {q["variable"]: q["default"] for q in VARS["tracefleet_awx_survey_questions"].values()},
        [["stg-eu-west-1"], ["stg-us-east-1"]]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_survey_answers_give_site_yml_its_hosts_and_waves(tmp_path, case):
    answers, expected = CASES[case]
    extra = {**VARS["tracefleet_awx_derived_vars"], **answers}  # how AWX merges template vars and survey answers
    (tmp_path / "extra.json").write_text(json.dumps(extra))
    assert site_waves(INVENTORY, tmp_path / "extra.json", _env(tmp_path), tmp_path) == expected


def test_awx_side_templates_reach_the_modules_unrendered(task_results):
    """The injector and the derived extra_vars are Jinja for AWX to render at job time (!unsafe here)."""
    injectors = task_results["Define the credential type that injects a fleet kubeconfig"][0]["invocation"][
        "module_args"]["injectors"]
    assert injectors == {"file": {"template": "{{ kubeconfig }}"}, "env": {"K8S_AUTH_KUBECONFIG": "{{ tower.filename }}"}}
    for result in task_results["Create the job templates with their surveys"]:
        args = result["invocation"]["module_args"]
        extra_vars = args["extra_vars"]
        assert extra_vars == VARS["tracefleet_awx_derived_vars"], extra_vars
        assert [q["variable"] for q in args["survey_spec"]["spec"]][:1] == ["tracefleet_environment"]
