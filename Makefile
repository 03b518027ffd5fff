# The two commands a newcomer needs are `make run` and `make test`; everything else is optional.
PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
OCR_B := .tools/fonts-ocr-b/usr/share/fonts/opentype/ocr-b/OCRB.otf
export UV_PYTHON_DOWNLOADS := never
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test bench bench-audit mutate install lint format messages clean help

help:
	@echo "make run    install what is missing, then run intake, authorization and issuance (Ctrl-C stops them)"
	@echo "make test   install what is missing, then run every test (needs RabbitMQ, Redis, PostgreSQL)"
	@echo "make bench  end-to-end throughput, latency and CPU per request on SQLite, then PostgreSQL, beside the bare broker's"
	@echo "make bench-audit  100,000 signed events: the auditor's replay, verify and archive rates beside a bare stream read"
	@echo "make mutate  mutation testing (mutmut) of the pure domain against its unit tests; prints the survivors"
	@echo "make lint   ruff check and format check"
	@echo "make messages  extract the Spanish and English msgids and update the catalogs in shared/locale"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: .venv/.installed

# The official AsyncAPI parser, for tests/unit/test_asyncapi_official.py; npm writes the stamp on every `npm ci`.
tests/asyncapi/node_modules/.package-lock.json: tests/asyncapi/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js and npm (Debian: apt-get install nodejs npm), the AsyncAPI contract test needs them" >&2; exit 1; }
	npm ci --prefix tests/asyncapi --no-audit --no-fund --ignore-scripts

run: install $(OCR_B)
	.venv/bin/visa run

# promtool, for tests/unit/test_deploy_tools.py: Debian's prometheus package unpacked into .tools/prometheus
# (nothing installed system-wide, no server started). The other deployment tools are dev dependencies (uv).
PROMTOOL := .tools/prometheus/usr/bin/promtool
$(PROMTOOL): | $(UV)
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "promtool is missing: unpack Debian's prometheus package into .tools/prometheus, or link a promtool there" >&2; exit 1; }
	rm -rf .tools/prometheus .tools/prometheus-deb && mkdir -p .tools/prometheus-deb
	cd .tools/prometheus-deb && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; }
	dpkg-deb -x .tools/prometheus-deb/prometheus_*.deb .tools/prometheus
	rm -rf .tools/prometheus-deb
	$(PROMTOOL) --version >/dev/null

# OCR-B, the MRZ's typeface on the printed visa (services/issuance/sticker.py): Debian's fonts-ocr-b package
# unpacked into .tools/fonts-ocr-b (nothing installed system-wide); issuance finds it there.
$(OCR_B):
	@command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || { echo "OCR-B is missing: unpack Debian's fonts-ocr-b package into .tools/fonts-ocr-b, or set ISSUANCE_STICKER_FONT" >&2; exit 1; }
	rm -rf .tools/fonts-ocr-b .tools/fonts-ocr-b-deb && mkdir -p .tools/fonts-ocr-b-deb
	cd .tools/fonts-ocr-b-deb && { apt-get download fonts-ocr-b 2>/dev/null || { apt-get update -qq && apt-get download fonts-ocr-b; }; }
	dpkg-deb -x .tools/fonts-ocr-b-deb/fonts-ocr-b_*.deb .tools/fonts-ocr-b
	rm -rf .tools/fonts-ocr-b-deb
	test -f $(OCR_B)

# Chromium, for the browser tests of the consoles (tests/browser): Debian's package, installed when missing.
# Playwright drives it (executable_path) and never downloads a browser of its own.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "chromium is missing: install Debian's chromium package, the browser tests drive it" >&2; exit 1; }
	apt-get install -y -qq chromium 2>/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	test -x $(CHROMIUM)

test: install tests/asyncapi/node_modules/.package-lock.json $(PROMTOOL) $(OCR_B) $(CHROMIUM)
	.venv/bin/pytest

# One run per database in BENCH_DATABASES (SQLite as `make run`, PostgreSQL as deployed); BENCH_ARGS for the knobs.
BENCH_DATABASES ?= sqlite postgresql
BENCH_ARGS ?=
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	for database in $(BENCH_DATABASES); do .venv/bin/python -m tests.benchmarks.pipeline --database $$database $(BENCH_ARGS) || exit 1; done

# Audit: >=100k signed events into a vhost of its own; stream, History and archive rates, verify's peak memory.
bench-audit: install
	.venv/bin/python -m tests.benchmarks.audit

# Mutation testing of the pure domain ([tool.mutmut] in pyproject.toml; not part of `make test`). mutmut works in
# mutants/ and keeps its results there: a second run only tries what changed. The survivors and why each is
# left: docs/mutation.md.
mutate: install
	.venv/bin/mutmut run
	@echo "Surviving mutants (\`.venv/bin/mutmut show NAME\` prints one):"
	@.venv/bin/mutmut results

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

# Spanish and English: extract the msgids from the code (babel.cfg) into shared/locale/messages.pot and bring
# every catalog up to date with it; then translate what is new (tests/unit/test_i18n.py says what is missing).
# The -k keywords are shared.i18n.KEYWORDS.
I18N_KEYWORDS := -k N_ -k N_plural:1,2 -k gettext -k ngettext:1,2 -k translate -k translate_plural:1,2 -k Message -k Refusal -k Invalid
messages: install
	.venv/bin/pybabel extract -F babel.cfg $(I18N_KEYWORDS) --sort-output --add-location=file \
		--project=visa --copyright-holder="Ministerio de Relaciones Exteriores del Perú" \
		-o shared/locale/messages.pot shared services
	.venv/bin/pybabel update -D messages -i shared/locale/messages.pot -d shared/locale --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf .venv .tools var .pytest_cache
