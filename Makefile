# 便民助手: `make run` sets everything up and runs the assistant; `make test` sets up and runs the tests.
.PHONY: run cluster test test-cluster lint unit mutation setup setup-test staff rotate-keys lock benchmark clean

PY := .venv/bin/python
RASA := .venv-rasa/bin/rasa

run: setup
	$(PY) -m kiosk.handwriting build
	$(PY) -m bot.runner

# The replicated topology on one machine: HAProxy on 127.0.0.1:8080 in front of 2 replicas of each server.
cluster: setup
	$(PY) -m kiosk.handwriting build
	$(PY) -m bot.cluster.run

# `rasa data validate --domain dialogues` checks the engine's domain and the sentences only custom actions say (dialogues/texts).
test: setup-test lint
	$(PY) -m bot.cli prepare
	$(PY) -m kiosk.handwriting build
	$(RASA) data validate --config config.yml --domain dialogues --data dialogues/data var/build/nlu
	$(PY) -m pytest -m "not cluster"
	$(PY) -m tests.mutation.gate

# Faults on `make cluster` with traffic running (a few minutes; .ci/run calls it after `make test`).
test-cluster: setup-test
	$(PY) -m bot.cli prepare
	$(PY) -m kiosk.handwriting build
	$(PY) -m pytest -m cluster

# Ruff, mypy and the import contracts of docs/architecture.md; the same checks as .pre-commit-config.yaml.
lint:
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# The fast tests, without a stack, a browser, a SIP client or a slow engine: run them before every commit
# (three workers per two cores; an idle worker takes tests queued for a busy one). Python keeps its bytecode
# for the next run even where the environment says not to (PYTHONDONTWRITEBYTECODE): 2-3 s less per worker.
unit:
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest --unit -n auto --dist worksteal

# Plants bugs in the code that guards residents' data and fails when the tests catch too few (README, "Mutation scores").
mutation: setup-test
	$(PY) -m tests.mutation.run

setup:
	@bash packaging/setup-system.sh
	@bash packaging/setup-environments.sh

setup-test:
	@bash packaging/setup-system.sh --test
	@bash packaging/setup-environments.sh --test

# Creates or updates a staff account: make staff USERNAME=li PASSWORD=... ROLE=staff|supervisor|admin
# CENTRE=<centre id from knowledge_base/centres.yml> (or none): the centre whose appointments a staff member sees
# Deactivates one (its logins end at once): make staff USERNAME=li ACTIVE=no
staff: setup
	$(PY) -m bot.cli staff --username "$(USERNAME)" $(if $(PASSWORD),--password "$(PASSWORD)") --role "$(or $(ROLE),staff)" $(if $(CENTRE),--centre "$(CENTRE)") --active "$(or $(ACTIVE),yes)"

# Re-encrypts every personal field with a new key (written first in the key file); former keys still decrypt.
rotate-keys: setup
	$(PY) -m bot.cli rotate-keys

# Regenerates the lock files from the requirement files (after a deliberate upgrade).
lock:
	bash packaging/lock.sh

benchmark:
	$(PY) benchmarks/chat_latency.py
	$(PY) benchmarks/understanding.py
	$(PY) benchmarks/handwriting.py

clean:
	rm -rf var/build var/rasa models
