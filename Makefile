# Set-up on a fresh machine: `make demo` or `make test` (each creates .venv when missing).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,data,tune,robotics,serve,ray
PYTEST_ARGS ?= -m "not slow"
# Where pip finds torch when .venv has none. Empty: pip's own index (on an ordinary Linux machine
# the public index serves the CUDA build, several GB with its nvidia-* wheels). CPU only, ~200 MB:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: install demo test slow lint bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# A torch already importable (a user's CUDA build, say) is kept; otherwise torch 2.13.0 from TORCH_INDEX.
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@$(PY) -c "import torch; print('torch', torch.__version__, '(CUDA ' + torch.version.cuda + ')' if torch.version.cuda else '(CPU only)')"
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	@# The 'animal' dataset's arrays; its metadata requires TensorFlow, which rlgen never imports.
	$(PY) -m pip install --no-deps animal-mnist==0.4
	@touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/rlgen train classifier --data digits --wandb offline --overwrite --run-dir runs/demo-classifier-digits
	$(VENV)/bin/rlgen eval runs/demo-classifier-digits
	$(VENV)/bin/rlgen train alphazero --env tictactoe --wandb offline --overwrite --run-dir runs/demo-alphazero-tictactoe
	$(VENV)/bin/rlgen eval runs/demo-alphazero-tictactoe --opponent minimax --games 200
	@# 1,000 steps (~5 minutes on 2 cores) make every digit readable; metrics=false skips training the
	@# reference classifier the metrics read samples with (~5 more minutes, once): rlgen eval RUN does it.
	$(VENV)/bin/rlgen train cgan --data mnist5k --steps 1000 --set metrics=false --wandb offline --overwrite --run-dir runs/demo-cgan-mnist5k
	$(VENV)/bin/rlgen sample runs/demo-cgan-mnist5k --out runs/demo-cgan-mnist5k/digits.png
	@$(PY) -m rlgen.demo
	@echo "play against it: $(VENV)/bin/rlgen play runs/demo-alphazero-tictactoe --human-first"
	@echo "one labelled row per digit: runs/demo-cgan-mnist5k/digits.png"
	@echo "browse, play and generate on a web page: $(VENV)/bin/rlgen serve runs/"

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest $(PYTEST_ARGS)

slow: install
	$(PY) -m pytest -m slow

bench: install
	$(PY) benchmarks/classifier_floor.py
	$(PY) benchmarks/game_core_vs_pettingzoo.py
	$(PY) benchmarks/mcts_throughput.py --evaluator uniform
	$(PY) benchmarks/alphazero_tictactoe.py
	$(PY) benchmarks/bandits.py
	$(PY) benchmarks/cartpole_vs_sb3.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
