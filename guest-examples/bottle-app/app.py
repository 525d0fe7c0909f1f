"""A Bottle app served by `wharf serve`: one request per run, as CGI."""

import json
import os
import sys
from wsgiref.handlers import CGIHandler

import bottle

app = bottle.Bottle()


@app.get("/")
def index():
    return "Hello from Bottle in a wharf sandbox!\n"


@app.get("/hello/<name>")
def hello(name):
    greeting = os.environ.get("GREETING", "Hello")
    return f"{greeting}, {name}!\n"


@app.post("/echo")
def echo():
    bottle.response.content_type = "application/json"
    return json.dumps({
        "length": len(bottle.request.body.read()),
        "query": dict(bottle.request.query),
        "type": bottle.request.content_type,
    }) + "\n"


@app.get("/fail")
def fail():
    raise RuntimeError("this route fails on purpose")


if __name__ == "__main__":
    # Bottle's own error page says what failed; the traceback goes to the
    # server's log (stderr).
    app.catchall = True
    CGIHandler().run(app)
