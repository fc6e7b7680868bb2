"""How uvicorn serves the API: problem+json even for requests that are not valid HTTP, and
access logs without query strings.

uvicorn answers a request h11 cannot parse (a non-numeric Content-Length, a
broken request line) itself, with a plain-text 400, before the app sees it;
`ProblemH11Protocol` answers the same 400 as an RFC 9457 problem document, so
every 4xx of the service has one shape. Access logs print each request's
path; a query string can carry a callback URL with its tokens, so it is cut.
"""

from __future__ import annotations

import json
import logging

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from llmlabel.api.problems import PROBLEM_MEDIA_TYPE, problem_type

__all__ = ["ProblemH11Protocol", "install_access_log_filter"]


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with its own 400 answers as problem+json."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({
            "type": problem_type("bad-request"),
            "title": "Bad Request",
            "status": 400,
            "detail": "the request is not valid HTTP/1.1 (a header such as Content-Length "
                      "holds a value HTTP does not allow, or the request line is broken)",
            "instance": None,
        }).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers,
                                                         reason=b"Bad Request")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


class _NoQueryStrings(logging.Filter):
    """Drops the query string from uvicorn's access log lines (args: client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_access_log_filter() -> None:
    """Cut query strings from uvicorn's access log (once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryStrings) for f in access.filters):
        access.addFilter(_NoQueryStrings())
