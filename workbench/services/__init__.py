"""Services: one function per user action, with typed results; views, CLI, API and importers call them."""
