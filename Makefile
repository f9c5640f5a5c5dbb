# `make run`: set up .venv, train DQN on CartPole, evaluate the final checkpoint over 20 episodes, fine-tune it with
# int8 quantisation-aware training (configs/cartpole_dqn_int8.yaml) and export that as an int8 ONNX policy, checked
# for parity against its torch agent and against the fp32 agent (greedy agreement and return kept).
# `make test`: set up .venv (or reuse it) and run the test suite (tests marked slow are left out).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_DIR := runs/make_run
INT8_DIR := runs/make_run_int8

.PHONY: setup run test test-all clean

setup: $(STAMP)

# torch is pinned to the CPU wheel here (pyproject keeps a range): an unpinned torch can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	rm -rf $(RUN_DIR) $(INT8_DIR)
	$(BIN)/rlkit train configs/cartpole_dqn.yaml run_dir=$(RUN_DIR) --no-progress
	$(BIN)/rlkit eval $(RUN_DIR)/checkpoints/final.pt --episodes 20
	$(BIN)/rlkit train configs/cartpole_dqn_int8.yaml agent.init_from=$(RUN_DIR)/checkpoints/final.pt \
		run_dir=$(INT8_DIR) --no-progress
	$(BIN)/rlkit export $(INT8_DIR)/checkpoints/final.pt --format onnx --quantize int8

test: setup
	$(BIN)/python -m pytest -q -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs
