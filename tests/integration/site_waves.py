"""The waves playbooks/site.yml's play would run on an inventory, without touching any cluster.

A playbook with site.yml's own play keywords (hosts, serial, max_fail_percentage) and one run_once task
that prints the batch is run with the real ansible-playbook; each batch is one wave. Used by the fleet
inventory and AWX tests to check what rollout files and survey answers really give the play.
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tfstack.paths import REPO


def site_waves(inventory, extra_vars_file, env, workdir: Path, limit=None):
    site = next(play for play in yaml.safe_load((REPO / "playbooks" / "site.yml").read_text()) if "serial" in play)
    probe = [{"name": "Print the waves", "gather_facts": False,
              **{key: site[key] for key in ("hosts", "serial", "max_fail_percentage")},
              "tasks": [{"name": "Print this wave", "run_once": True,
                         "ansible.builtin.debug": {"msg": "{{ ansible_play_batch }}"}}]}]
    playbook = workdir / "waves.yml"
    playbook.write_text(yaml.safe_dump(probe))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra_vars_file}",
           *(["--limit", limit] if limit else []), str(playbook)]
    env = dict(env, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)}: rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
    plays = json.loads(proc.stdout)["plays"]
    return [next(iter(task["hosts"].values()))["msg"] for play in plays for task in play["tasks"]]
