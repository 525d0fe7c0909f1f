"""A wasi:http/proxy component in Python, built by componentize-py: what
`wasmtime serve` and Spin run, and `wharf serve` too.

    python3 guest-examples/hello-http-python/build.py
    wharf serve -p 8080 guest-examples/hello-http-python/hello-http.wasm
"""

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)


def read_body(request: IncomingRequest) -> bytes:
    body = request.consume()
    stream = body.stream()
    data = b""
    while True:
        try:
            data += stream.blocking_read(65536)
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise
    stream.__exit__(None, None, None)
    return data


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        path = request.path_with_query() or "/"
        if isinstance(request.method(), Method_Post):
            data = read_body(request)
            text = f"POST {path}: {len(data)} bytes: {data.decode(errors='replace')}\n"
        else:
            text = f"hello from a Python component at {path}\n"
        response = OutgoingResponse(Fields.from_list([("content-type", b"text/plain")]))
        response.set_status_code(200)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        stream = body.write()
        stream.blocking_write_and_flush(text.encode())
        stream.__exit__(None, None, None)
        OutgoingBody.finish(body, None)
