"""A Flask app served by `wharf serve`, one request per sandbox, through
CGI (the standard library's wsgiref.handlers.CGIHandler). Flask is imported
at build time and snapshotted with the interpreter, so a request starts in
milliseconds.
"""

import os
from wsgiref.handlers import CGIHandler

from flask import Flask, jsonify, render_template_string, request

app = Flask(__name__)

PAGE = """<!doctype html>
<title>{{ title }}</title>
<h1>Hello, {{ name }}!</h1>
"""


@app.get("/")
def index():
    return "Hello from Flask in a wharf sandbox!\n"


@app.get("/hello/<name>")
def hello(name):
    return render_template_string(PAGE, title=os.environ.get("TITLE", "wharf"), name=name)


@app.post("/echo")
def echo():
    return jsonify(length=len(request.get_data()), query=request.args.to_dict(),
                   type=request.content_type)


if __name__ == "__main__":
    CGIHandler().run(app)
