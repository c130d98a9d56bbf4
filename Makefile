# v6gate: `make lab` runs the lab, `make test` runs every check. Both do all set-up first.
SHELL := /bin/bash
VENV := .venv
export CONTAINERS_CONF := $(CURDIR)/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: lab test bench deps images rebuild-images lint lab-down audit help

help:
	@echo "make lab   - set up, bring up the lab containers and converge site.yml against them"
	@echo "make test  - set up, then ruff, ansible-lint, pytest and every Molecule scenario"
	@echo "make bench - benchmarks (not part of make test)"
	@echo "make lab-down - remove the lab containers and network"

deps:
	@scripts/bootstrap.sh

images: deps
	@molecule/images/build.sh

rebuild-images: deps
	@molecule/images/build.sh --rebuild

lab: images
	ansible-playbook -i inventories/lab/hosts.yml playbooks/lab.yml

lab-down: deps
	ansible-playbook -i inventories/lab/hosts.yml playbooks/lab.yml -e v6gate_lab_state=absent

test: images
	@scripts/test.sh

lint: deps
	@scripts/test.sh ruff ansible-lint

bench: images
	@scripts/bench.sh
