# 便民助手: `make run` sets everything up and runs the assistant; `make test` sets up and runs the tests.
.PHONY: run cluster test test-cluster setup setup-test prepare validate unit stack staff lock benchmark clean

PY := .venv/bin/python
RASA := .venv-rasa/bin/rasa

run: setup
	$(PY) -m bot.runner

# The replicated topology on one machine: HAProxy on 127.0.0.1:8080 in front of 2 replicas of each server.
cluster: setup
	$(PY) -m bot.cluster.run

test: setup-test
	.venv/bin/lint-imports
	$(PY) -m bot.cli prepare
	$(RASA) data validate --config config.yml --domain dialogues/domain --data dialogues/data var/build/nlu
	$(PY) -m pytest -m "not cluster"

# Faults on `make cluster` with traffic running (a few minutes; .ci/run calls it after `make test`).
test-cluster: setup-test
	$(PY) -m bot.cli prepare
	$(PY) -m pytest -m cluster

setup:
	@bash packaging/setup-system.sh
	@bash packaging/setup-environments.sh

setup-test:
	@bash packaging/setup-system.sh --test
	@bash packaging/setup-environments.sh --test

# Creates or updates a staff account: make staff USERNAME=li PASSWORD=... ROLE=staff|supervisor|admin
staff: setup
	$(PY) -m bot.cli staff --username "$(USERNAME)" --password "$(PASSWORD)" --role "$(or $(ROLE),staff)"

# Regenerates the lock files from the requirement files (after a deliberate upgrade).
lock:
	bash packaging/lock.sh

benchmark:
	$(PY) benchmarks/chat_latency.py
	$(PY) benchmarks/understanding.py

clean:
	rm -rf var/build var/rasa models
