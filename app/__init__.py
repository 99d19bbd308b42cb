"""dbaas control plane: the Flask application factory."""

import logging
from typing import Any

from flask import Flask, send_from_directory

from app.api import BLUEPRINTS
from app.extension import Api
from app.paths import PathNormaliser
from app.sessions import Database
from core import config as config_module
from core.queue import JobQueue


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config_module.load(overrides))
    app.url_map.strict_slashes = False
    app.wsgi_app = PathNormaliser(app.wsgi_app)

    Database().init_app(app)
    app.extensions["dbaas_queue"] = JobQueue(app.config["REDIS_URL"], app.config["QUEUE_NAME"])

    api = Api(app, spec_kwargs={"security": [{"bearerAuth": []}]})
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    _serve_swagger_assets(app)
    logging.getLogger("app").setLevel(logging.INFO)
    return app


def _serve_swagger_assets(app: Flask) -> None:
    from swagger_ui_bundle import swagger_ui_path

    @app.get("/docs/static/<path:filename>")
    def swagger_asset(filename: str):
        return send_from_directory(str(swagger_ui_path), filename)
