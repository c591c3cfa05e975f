"""What each ``sevres`` sub-command does; they call services, never SQL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from sevres import config
from sevres.cli.main import admin_password, fail, say
from sevres.config import Settings
from sevres.log import emit, events
from sevres.storage import migrate
from sevres.storage.database import Database
from sevres.tokens import keys


def init(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        revision = migrate.upgrade(database.engine)
    except sa.exc.OperationalError as error:
        return fail(f"cannot reach the database: {str(error.orig).splitlines()[0]}")
    finally:
        database.dispose()
    created = keys.create(settings.keys_dir)
    say(f"schema at revision {revision}; Fernet keys in {settings.keys_dir}"
        + (" (created)" if created else ""))
    return 0


def bootstrap(settings: Settings, region: str) -> int:
    from sevres.app import build_services
    from sevres.bootstrap import bootstrap as run_bootstrap

    if not _schema_current(settings):
        return fail("the database schema is not current; run 'sevres init' first")
    password, generated = admin_password(settings)
    services = build_services(settings)
    try:
        result = run_bootstrap(services, password, settings.endpoint_url(), region)
    finally:
        services.database.dispose()
    clouds = _write_clouds_yaml(settings, password)
    say(f"bootstrap done: user admin ({result.user_id}), project admin ({result.project_id})")
    if generated:
        say(f"generated admin password (shown once, kept in {settings.admin_password_file}):")
        say(f"  {password}")
    elif not os.environ.get("SEVRES_ADMIN_PASSWORD"):
        say(f"admin password: in {settings.admin_password_file}")
    if not result.created_user:
        say("the admin user already existed; its password was left unchanged")
    say("reach it with the openstack CLI:")
    say(f"  export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=sevres")
    say("  openstack token issue")
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    if not _schema_current(settings):
        return fail("the database schema is not current; run 'sevres init' first")
    try:
        keys.load(settings.keys_dir)
    except keys.KeyRepositoryError as error:
        return fail(str(error))
    os.environ.update(config.environment_for(settings))
    if settings.config_file is not None:
        os.environ["SEVRES_CONFIG"] = str(settings.config_file)
    url = f"http://{settings.host}:{settings.port}/v3"
    emit(events.SERVER_STARTING, url=url, workers=settings.workers)
    say(f"sevres serving Keystone v3 at {url} (Ctrl-C stops it)")
    uvicorn.run("sevres.app:create_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, log_config=None, access_log=False,
                timeout_graceful_shutdown=5)
    return 0


def db_upgrade(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        say(f"schema at revision {migrate.upgrade(database.engine)}")
    finally:
        database.dispose()
    return 0


def db_current(settings: Settings) -> int:
    database = Database(settings.database_url)
    try:
        current = migrate.current(database.engine)
    finally:
        database.dispose()
    head = migrate.head()
    state = "current" if current == head else f"behind (newest is {head}; run 'sevres db upgrade')"
    say(f"{current or 'empty'} ({state})")
    return 0 if current == head else 1


def _schema_current(settings: Settings) -> bool:
    database = Database(settings.database_url)
    try:
        return migrate.current(database.engine) == migrate.head()
    except sa.exc.OperationalError:
        return False
    finally:
        database.dispose()


def _write_clouds_yaml(settings: Settings, password: str) -> Path:
    path = settings.state_dir / "clouds.yaml"
    text = (
        "clouds:\n"
        "  sevres:\n"
        "    auth:\n"
        f"      auth_url: {settings.endpoint_url().rstrip('/')}\n"
        "      username: admin\n"
        f"      password: \"{password}\"\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        "    identity_api_version: 3\n"
        "    region_name: RegionOne\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return path
