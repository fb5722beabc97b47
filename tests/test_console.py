"""The console is served by the app itself, with everything it loads, under a strict policy."""
from __future__ import annotations

import re


def test_the_console_page_and_its_assets_are_served_from_the_app(client):
    page = client.get("/console/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/console/static/") or s == "data:," for s in sources)
    for source in sources:
        if source.startswith("/console/static/"):
            asset = client.get(source)
            assert asset.status_code == 200, source
            assert asset.headers["Content-Security-Policy"] == policy
    assert client.get("/console/static/vendor/echarts/echarts.min.js").content_length > 500_000


def test_the_bare_console_address_redirects_and_unknown_assets_are_404(client):
    response = client.get("/console")
    assert response.status_code == 308 and response.headers["Location"].endswith("/console/")
    assert client.get("/console/static/nothing.js").status_code == 404


def test_the_console_reads_only_the_statistics_and_the_staff_member(client):
    script = client.get("/console/static/console.js").get_data(as_text=True)
    called = set(re.findall(r'"(/(?:stats|me|auth)[^"?]*)', script))
    assert called == {"/auth/staff/login", "/me", "/stats/contracts", "/stats/chronic", "/stats/teams",
                      "/stats/trend", "/stats/fulfilment", "/stats/calls"}
