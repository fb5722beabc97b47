# The two everyday commands: `make demo` (the service with the demo county) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
WECHAT_PORT ?= 5001

.PHONY: demo test openapi

$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# The demo's mini program logs in through a local stand-in of WeChat's API (tests/fakes),
# which accepts any code "demo-<openid>". The scheduler runs beside the web process without
# WeChat credentials, so its reminders go to the dry-run channel. Both stop with the server.
demo: $(BIN)/.installed
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi demo-data
	$(BIN)/flask --app wsgi rollup
	$(BIN)/python -m tests.fakes.wechat_server --port $(WECHAT_PORT) & fake=$$!; \
	$(BIN)/flask --app wsgi scheduler & scheduler=$$!; \
	trap 'kill $$fake $$scheduler 2>/dev/null' EXIT INT TERM; \
	JIAYI_WECHAT_APPID=wx-demo-appid JIAYI_WECHAT_SECRET=demo-app-secret \
	JIAYI_WECHAT_API_BASE_URL=http://127.0.0.1:$(WECHAT_PORT)/ \
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest

openapi: $(BIN)/.installed
	$(BIN)/flask --app wsgi openapi
