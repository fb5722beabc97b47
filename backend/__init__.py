"""Jiayi (家医): the backend of the family-doctor contract service."""
from __future__ import annotations

import swagger_ui_bundle
from flask import Flask, send_from_directory

from backend.config import flask_config, generic_plans_connect_args, load_settings
from backend.errors import register_error_handlers
from backend.extensions import GENERIC_PLANS, api, db, jwt, limiter, migrate

API_PREFIX = "/api/v1"


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    register_config(app, overrides or {})
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_logging(app)
    register_commands(app)
    return app


def register_config(app: Flask, overrides: dict) -> None:
    settings = overrides.pop("JIAYI", None) or load_settings(app.instance_path)
    app.config.update(flask_config(settings))
    app.config.update(overrides)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain URLs would ask for psycopg2.
        app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://" + url.split("://", 1)[1]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config.setdefault("SQLALCHEMY_BINDS", {})[GENERIC_PLANS] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"], "url": app.config["SQLALCHEMY_DATABASE_URI"],
            "connect_args": generic_plans_connect_args(app.config["SQLALCHEMY_ENGINE_OPTIONS"])}
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.json.mimetype = "application/json; charset=utf-8"


def register_extensions(app: Flask) -> None:
    from backend import models  # noqa: F401  every model registered before migrations look
    from backend.contracts import counts
    from backend.fulfilment import progress
    progress.keep_counts()  # the contract items' and contracts' counts follow every write
    counts.keep_team_counts()  # and the teams' contracted residents

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"), render_as_batch=True,
                     compare_type=True)
    jwt.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    api.spec.options.setdefault("servers", [{"url": "/"}])


def register_blueprints(app: Flask) -> None:
    from backend import console, doctor_app, health
    from backend.auth.routes import blp as auth_blp
    from backend.contracts.routes import blp as contracts_blp
    from backend.directory.routes import admin as directory_admin
    from backend.directory.routes import public as directory_public
    from backend.exams.routes import blp as exams_blp
    from backend.followups.routes import blp as followups_blp
    from backend.fulfilment.routes import blp as fulfilment_blp
    from backend.imports.routes import blp as imports_blp
    from backend.notifications.routes import blp as notifications_blp
    from backend.records.routes import blp as records_blp
    from backend.referrals.routes import blp as referrals_blp
    from backend.stats.routes import blp as stats_blp
    from backend.residents.routes import blp as residents_blp
    from backend.residents.routes import own as my_residents_blp
    from backend.sync.routes import blp as sync_blp

    api.register_blueprint(health.blp, url_prefix=API_PREFIX)
    # The bare /healthz is for load balancers that do not know the API prefix.
    app.add_url_rule("/healthz", "healthz_root", health.healthz)
    app.add_url_rule("/healthz/scheduler", "scheduler_health_root", health.scheduler_health)
    api.register_blueprint(auth_blp, url_prefix=API_PREFIX)
    api.register_blueprint(directory_public, url_prefix=API_PREFIX)
    api.register_blueprint(directory_admin, url_prefix=API_PREFIX + "/admin")
    api.register_blueprint(imports_blp, url_prefix=API_PREFIX + "/admin")
    api.register_blueprint(residents_blp, url_prefix=API_PREFIX)
    api.register_blueprint(my_residents_blp, url_prefix=API_PREFIX)
    api.register_blueprint(contracts_blp, url_prefix=API_PREFIX)
    api.register_blueprint(followups_blp, url_prefix=API_PREFIX)
    api.register_blueprint(fulfilment_blp, url_prefix=API_PREFIX)
    api.register_blueprint(records_blp, url_prefix=API_PREFIX)
    api.register_blueprint(exams_blp, url_prefix=API_PREFIX)
    api.register_blueprint(referrals_blp, url_prefix=API_PREFIX)
    api.register_blueprint(notifications_blp, url_prefix=API_PREFIX)
    api.register_blueprint(stats_blp, url_prefix=API_PREFIX)
    api.register_blueprint(sync_blp, url_prefix=API_PREFIX)
    console.register(app)
    doctor_app.register(app)

    @app.route("/api/docs/assets/<path:filename>")
    def swagger_ui_assets(filename: str):
        # Served from the pinned swagger-ui-bundle package: the docs work without internet.
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def register_logging(app: Flask) -> None:
    from backend.security.redaction import install

    install()


def register_commands(app: Flask) -> None:
    from backend.cli import register

    register(app)
