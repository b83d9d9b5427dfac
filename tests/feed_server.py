"""A small web site on localhost for the feed tests: feeds (RSS 2.0, RDF, Atom) and article
pages, served by a real HTTP server with ETags, redirects, slow and large answers."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    etag: str | None = None  # answers 304 to a request that sends it back
    delay: float = 0.0  # seconds before the answer starts
    location: str | None = None  # a redirect


@dataclass
class Hit:
    path: str
    status: int
    headers: dict[str, str]


@dataclass
class Site:
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    base: str = ""

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, path: str, title: str, paragraphs: list[str], **extra) -> str:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
        doc = (
            f"<!doctype html><html><head><title>{html.escape(title)}</title>"
            f'<meta property="og:site_name" content="Test Herald"></head>'
            f"<body><nav>Home News Sport</nav><article><h1>{html.escape(title)}</h1>{body}</article>"
            "<footer>Copyright Test Herald</footer></body></html>"
        )
        self.routes[path] = Route(doc.encode("utf-8"), **extra)
        return self.url(path)

    def feed(self, path: str, kind: str, items: list[dict], **extra) -> str:
        self.routes[path] = Route(feed_xml(kind, items).encode("utf-8"), content_type=FEED_TYPES[kind], **extra)
        return self.url(path)

    def requests_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "rdf": "application/rdf+xml"}


def feed_xml(kind: str, items: list[dict]) -> str:
    """items: {"title", "link", "id", "date" (RFC 822 for RSS, ISO for Atom), "summary"}."""
    e = html.escape
    if kind == "rss":
        entries = "".join(
            "<item>"
            + (f"<title>{e(i['title'])}</title>" if i.get("title") else "")
            + (f"<link>{e(i['link'])}</link>" if i.get("link") else "")
            + (f"<guid>{e(i['id'])}</guid>" if i.get("id") else "")
            + (f"<pubDate>{i['date']}</pubDate>" if i.get("date") else "")
            + (f"<description>{e(i['summary'])}</description>" if i.get("summary") else "")
            + "</item>"
            for i in items
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>RSS Test</title><link>http://x/</link>{entries}</channel></rss>'
    if kind == "atom":
        entries = "".join(
            f"<entry><title>{e(i['title'])}</title><link href=\"{e(i['link'])}\"/><id>{e(i['id'])}</id>"
            f"<updated>{i['date']}</updated><summary>{e(i.get('summary', ''))}</summary></entry>"
            for i in items
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Atom Test</title><id>urn:test</id><updated>2024-05-01T00:00:00Z</updated>{entries}</feed>"
        )
    entries = "".join(
        f"<item rdf:about=\"{e(i['link'])}\"><title>{e(i['title'])}</title><link>{e(i['link'])}</link>"
        f"<dc:date>{i['date']}</dc:date><description>{e(i.get('summary', ''))}</description></item>"
        for i in items
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<channel rdf:about="http://x/"><title>RDF Test</title><link>http://x/</link></channel>{entries}</rdf:RDF>'
    )


def serve(site: Site):
    """Start the site on a free localhost port; returns the server (call .shutdown())."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in one go: no 40 ms delayed-ACK stall a request

        def do_GET(self):  # noqa: N802 (the http.server API)
            route = site.routes.get(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if route is None:
                return self._answer(Hit(self.path, 404, headers), b"not found", "text/plain")
            if route.delay:
                time.sleep(route.delay)
            if route.location:
                hit = Hit(self.path, route.status, headers)
                return self._answer(hit, b"", "text/plain", {"Location": route.location})
            if route.etag and headers.get("if-none-match") == route.etag:
                return self._answer(Hit(self.path, 304, headers), None, None, {"ETag": route.etag})
            extra = {"ETag": route.etag} if route.etag else {}
            self._answer(Hit(self.path, route.status, headers), route.body, route.content_type, extra)

        def _answer(self, hit, body, content_type, extra=None):
            site.hits.append(hit)
            self.send_response(hit.status)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            if body is not None:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Content-Length", "0")
            self.end_headers()
            try:
                if body:
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout, a size limit)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that hung up (a timeout, a size limit) is what some tests do

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
