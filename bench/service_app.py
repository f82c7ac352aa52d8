"""
The WSGI application of the `service` benchmark: what a typical small API
endpoint does per request, a few hundred microseconds of Python building
and serialising a JSON document (60 items, ~4.8 KB), with a Content-Length
so that gunicorn keeps the connection alive.
"""
import json

ITEMS = 60


def app(environ, start_response):
    items = [
        {"id": i, "name": f"item-{i}", "price": round(i * 1.37, 2), "tags": [str(i % 7), str(i % 11)], "stock": (i * 7919) % 101}
        for i in range(ITEMS)
    ]
    document = {
        "path": environ.get("PATH_INFO", "/"),
        "count": ITEMS,
        "total": round(sum(x["price"] * x["stock"] for x in items), 2),
        "items": items,
    }
    body = json.dumps(document, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
