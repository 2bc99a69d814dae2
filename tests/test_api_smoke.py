import httpx

from tests.conftest import LiveServer


def test_ask_over_http_cites_seed(live: LiveServer) -> None:
    r = httpx.post(
        f"{live.url}/v1/ask", json={"question": "What does Serbia want to import from Azerbaijan?"}, timeout=30
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["refused"]
    assert body["citations"], body
    c = body["citations"][0]
    assert f"[{c['id']}]" in body["answer"]
    assert open(c["source"], encoding="utf-8").read()[c["start"] : c["end"]] == c["text"]
