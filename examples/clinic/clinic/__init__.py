"""clinic: a small multi-tenant appointment service, the example app of hoist.

One process serves one tenant (CLINIC_TENANT); hoist runs one container per tenant.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Flask

from .config import Settings
from .db import Base, make_engine, make_sessions
from .seed import seed

log = logging.getLogger("clinic")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["SETTINGS"] = settings
    app.json.sort_keys = False

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{settings.database_path}")
    Base.metadata.create_all(engine)
    sessions = make_sessions(engine)
    with sessions() as session:
        today = datetime.now(settings.zone).date()
        if seed(session, settings.tenant, today):
            log.info("seeded demo data for tenant %s", settings.tenant)
    app.extensions["clinic.engine"] = engine
    app.extensions["clinic.sessions"] = sessions

    from .views import bp

    app.register_blueprint(bp)
    return app
