# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment and installs what is missing first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The stamp names the requirements' checksum, so an edited requirements*.txt reinstalls.
STAMP  := $(VENV)/.installed-$(shell cat requirements*.txt | cksum | cut -d' ' -f1)

.PHONY: install demo test test-fast bench clean chromium

VENDOR := frontend/static/vendor/.installed

install: $(STAMP) $(VENDOR)

# The viewer's browser bundles come from the npm registry at set-up and are not committed.
$(VENDOR): package.json
	npm install --no-audit --no-fund --no-package-lock --loglevel=error
	mkdir -p frontend/static/vendor
	cp node_modules/cornerstone-core/dist/cornerstone.min.js \
	   node_modules/cornerstone-math/dist/cornerstoneMath.min.js \
	   node_modules/cornerstone-tools/dist/cornerstoneTools.min.js \
	   node_modules/cornerstone-wado-image-loader/dist/cornerstoneWADOImageLoader.bundle.min.js \
	   node_modules/cornerstone-wado-image-loader/dist/index.worker.bundle.min.worker.js \
	   node_modules/dicom-parser/dist/dicomParser.min.js \
	   node_modules/hammerjs/hammer.min.js frontend/static/vendor/
	touch $@

$(STAMP): requirements.txt requirements-web.txt requirements-worker.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: it lies on local disk; an unpinned torch would download a multi-GB build.
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(BIN)/python manage.py demo

# The browser tests drive Debian's Chromium, never a downloaded browser: installed here when missing (as root or
# through passwordless sudo); otherwise one line says how, and nothing runs.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends chromium; \
	  else echo "make test needs Debian's chromium for the browser tests: run 'sudo apt-get install chromium' (or 'make test-fast' to leave them out)"; exit 1; fi; }

test: install chromium
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not browser and not worker"

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var
