"""The Python side of the serve benchmark: one WSGI app, served three ways.

    python wsgi_hello.py            run once as a CGI script (wharf serve,
                                    or a native CGI server)
    python wsgi_hello.py serve PORT a long-lived wsgiref server
"""

import sys


def app(environ, start_response):
    body = f"hello from WSGI at {environ.get('PATH_INFO', '/')}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        make_server("127.0.0.1", int(sys.argv[2]), app, handler_class=Quiet).serve_forever()
    else:
        from wsgiref.handlers import CGIHandler

        CGIHandler().run(app)
