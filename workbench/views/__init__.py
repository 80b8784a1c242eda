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
