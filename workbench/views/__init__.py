"""Flask blueprints. Views stay thin: they check access (workbench.tenancy), call services, render."""
from flask import Flask


def register_blueprints(app: Flask) -> None:
    from workbench.views import account, audit, main, people, records

    app.register_blueprint(account.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(people.bp)

    from workbench.views import daily, studio

    app.register_blueprint(daily.bp)

    app.register_blueprint(studio.bp)

    from workbench.views import documents

    app.register_blueprint(documents.bp)
    from workbench.cb import commands as cb_commands
    from workbench.views import cb

    app.register_blueprint(cb.bp)
    app.register_blueprint(cb_commands.bp)  # `workbench portfolio digest`
    from workbench.importing import commands as import_commands
    from workbench.views import importing

    app.register_blueprint(importing.bp)
    app.register_blueprint(import_commands.bp)  # `workbench records import`
    from workbench.api import account as api_account, commands as api_commands, views as api_views

    api_views.register(app)  # /api/v1 (svc)
    app.register_blueprint(api_commands.bp)  # `workbench token create|revoke`
    app.register_blueprint(api_account.bp)  # /account/tokens
