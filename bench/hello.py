"""The hello-world Flask app bench/throughput.py serves with gunicorn next to ProcessBench (the reference)."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
