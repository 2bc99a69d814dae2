"""The client libraries people already point at OpenAI-compatible servers, each against a real `rag serve`
(keys on, the fake LLM behind it), offline: the openai SDK, simonw's `llm`, langchain-openai, LiteLLM,
huggingface_hub's InferenceClient and llama-index's OpenAILike. Plain, streamed, a bad key, a follow-up after
a withheld answer, and `usage`: a change that breaks a client breaks `make test` (issue 19)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_support import QUESTION
from tests.conftest import SEEDS
from tests.fakes.openai_server import REFUSAL, FakeOpenAI
from tests.servers import RagServe, serve_env

KEY, ADMIN = "reader-key-1234", "admin-key-5678"
FOLLOW_UP = "and what about oil?"
DRAFT = "Serbia exports bananas to Mars"
WITHHELD = json.dumps({"quote": "Serbia exports bananas to Mars every spring.", "answer": DRAFT})

# LiteLLM fetches a model price list when imported unless told to use the copy it ships.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeOpenAI) -> Iterator[RagServe]:
    tmp = tmp_path_factory.mktemp("clients")
    env = serve_env(tmp / "data", fake_llm_server.base_url, RAG_API_KEYS=KEY, RAG_ADMIN_KEYS=ADMIN)
    if os.environ.get("RAG_PROMPTS_DIR"):  # a checkout's templates, when this run reads them from there
        env["RAG_PROMPTS_DIR"] = os.environ["RAG_PROMPTS_DIR"]
    served = RagServe(env, tmp, tmp / "serve.log")
    try:
        served.wait_healthy(timeout=180)  # a loaded machine takes its time to load the embedding model
        seed = next(SEEDS.iterdir())
        r = httpx.post(
            f"{served.url}/v1/documents",
            files={"files": (seed.name, seed.read_bytes())},
            headers={"Authorization": f"Bearer {ADMIN}"},
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "added", r.text
        yield served
    finally:
        served.stop()


def condensed(fake: FakeOpenAI) -> str:
    """The follow-up rewriting prompt the LLM was sent (the conversation as seedrag read it)."""
    return next(r["messages"][-1]["content"] for r in fake.requests if "Last question:" in str(r["messages"]))


def check_follow_up(fake: FakeOpenAI) -> None:
    prompt = condensed(fake)
    assert f"assistant: {REFUSAL}" in prompt and "bananas" not in prompt, prompt


# --- the openai SDK ---------------------------------------------------------------------------------------------
def test_openai_sdk(server: RagServe, fake_llm: FakeOpenAI) -> None:
    import openai

    c = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=30)
    assert c.models.retrieve("seedrag").id == "seedrag"
    plain = c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}])
    assert "Azerbaijan" in (plain.choices[0].message.content or "")
    assert plain.usage is not None and plain.usage.completion_tokens > 0
    chunks = list(
        c.chat.completions.create(
            model="seedrag",
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == plain.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == plain.usage.total_tokens
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).models.list()

    fake_llm.reply = WITHHELD
    streamed = c.chat.completions.create(model="seedrag", messages=[{"role": "user", "content": QUESTION}], stream=True)
    kept = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert kept.startswith(DRAFT)
    fake_llm.reset()
    c.chat.completions.create(
        model="seedrag",
        messages=[
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": kept},
            {"role": "user", "content": FOLLOW_UP},
        ],
    )
    check_follow_up(fake_llm)


# --- simonw's llm -------------------------------------------------------------------------------------------------
@pytest.fixture
def llm_home(server: RagServe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """llm's config dir with seedrag registered as its docs say for OpenAI-compatible servers."""
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path))
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: seedrag\n  model_name: seedrag\n  api_base: {server.url}/v1\n  api_key_name: seedrag\n",
        encoding="utf-8",
    )
    (tmp_path / "keys.json").write_text(json.dumps({"seedrag": KEY}), encoding="utf-8")
    return tmp_path


def run_llm(*args: str) -> Any:
    from click.testing import CliRunner
    from llm.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_simonw_llm(llm_home: Path, fake_llm: FakeOpenAI) -> None:
    import llm

    plain = run_llm("-m", "seedrag", "--no-stream", QUESTION)
    assert plain.exit_code == 0 and "Azerbaijan" in plain.output, plain.output
    streamed = run_llm("-m", "seedrag", QUESTION)
    assert streamed.exit_code == 0 and streamed.output == plain.output
    styled = run_llm("-m", "seedrag", "-s", "Answer in one short sentence.", QUESTION)
    assert styled.exit_code == 0
    assert any("Answer in one short sentence." in str(r["messages"]) for r in fake_llm.requests)

    model = llm.get_model("seedrag")
    response = model.prompt(QUESTION, stream=False)
    assert "Azerbaijan" in response.text()
    usage = response.usage()
    assert usage.input and usage.output
    bad = model.prompt(QUESTION, key="wrong")
    with pytest.raises(Exception, match="401|API key"):
        bad.text()

    fake_llm.reply = WITHHELD
    conversation = model.conversation()
    first = conversation.prompt(QUESTION)
    assert first.text().startswith(DRAFT)
    fake_llm.reset()
    conversation.prompt(FOLLOW_UP).text()
    check_follow_up(fake_llm)


# --- langchain-openai -------------------------------------------------------------------------------------------
def test_langchain_openai(server: RagServe, fake_llm: FakeOpenAI) -> None:
    import openai
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="seedrag", base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=30)  # type: ignore[arg-type]
    plain = chat.invoke([SystemMessage("Answer in one short sentence."), HumanMessage(QUESTION)])
    assert "Azerbaijan" in str(plain.content)
    assert plain.usage_metadata and plain.usage_metadata["output_tokens"] > 0
    streaming = ChatOpenAI(
        model="seedrag",
        base_url=f"{server.url}/v1",
        api_key=KEY,
        max_retries=0,
        stream_usage=True,  # type: ignore[arg-type]
    )
    chunks = list(streaming.stream([HumanMessage(QUESTION)]))
    assert "".join(str(ch.content) for ch in chunks) == plain.content
    assert sum((ch.usage_metadata or {}).get("total_tokens", 0) for ch in chunks) > 0
    with pytest.raises(openai.AuthenticationError):
        ChatOpenAI(model="seedrag", base_url=f"{server.url}/v1", api_key="wrong", max_retries=0).invoke(QUESTION)  # type: ignore[arg-type]

    fake_llm.reply = WITHHELD
    kept = "".join(str(ch.content) for ch in streaming.stream([HumanMessage(QUESTION)]))
    assert kept.startswith(DRAFT)
    fake_llm.reset()
    chat.invoke([HumanMessage(QUESTION), AIMessage(kept), HumanMessage(FOLLOW_UP)])
    check_follow_up(fake_llm)


# --- LiteLLM ----------------------------------------------------------------------------------------------------
def test_litellm(server: RagServe, fake_llm: FakeOpenAI) -> None:
    import litellm

    litellm.telemetry = False
    common: dict[str, Any] = {"model": "openai/seedrag", "api_base": f"{server.url}/v1", "api_key": KEY}
    ask = [{"role": "user", "content": QUESTION}]
    plain = litellm.completion(messages=ask, **common)
    assert "Azerbaijan" in plain.choices[0].message.content
    assert plain.usage.completion_tokens > 0 and plain.usage.prompt_tokens > 0
    chunks = list(litellm.completion(messages=ask, stream=True, stream_options={"include_usage": True}, **common))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == plain.choices[0].message.content
    assert any(getattr(ch, "usage", None) and ch.usage.total_tokens == plain.usage.total_tokens for ch in chunks)
    with pytest.raises(litellm.AuthenticationError):
        litellm.completion(messages=ask, **{**common, "api_key": "wrong"})

    fake_llm.reply = WITHHELD
    streamed = litellm.completion(messages=ask, stream=True, **common)
    kept = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert kept.startswith(DRAFT)
    fake_llm.reset()
    history = [*ask, {"role": "assistant", "content": kept}, {"role": "user", "content": FOLLOW_UP}]
    litellm.completion(messages=history, **common)
    check_follow_up(fake_llm)


# --- huggingface_hub's InferenceClient --------------------------------------------------------------------------
def test_huggingface_inference_client(server: RagServe, fake_llm: FakeOpenAI) -> None:
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    c = InferenceClient(base_url=f"{server.url}/v1", api_key=KEY, timeout=30)
    ask = [{"role": "user", "content": QUESTION}]
    plain = c.chat_completion(ask, model="seedrag")
    assert "Azerbaijan" in (plain.choices[0].message.content or "")
    assert plain.usage is not None and plain.usage.completion_tokens > 0
    chunks = list(c.chat_completion(ask, model="seedrag", stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == plain.choices[0].message.content
    with pytest.raises(HfHubHTTPError, match="401"):
        InferenceClient(base_url=f"{server.url}/v1", api_key="wrong").chat_completion(ask, model="seedrag")

    fake_llm.reply = WITHHELD
    kept = "".join(ch.choices[0].delta.content or "" for ch in c.chat_completion(ask, model="seedrag", stream=True))
    assert kept.startswith(DRAFT)
    fake_llm.reset()
    c.chat_completion([*ask, {"role": "assistant", "content": kept}, {"role": "user", "content": FOLLOW_UP}])
    check_follow_up(fake_llm)


# --- llama-index's OpenAILike -----------------------------------------------------------------------------------
def test_llama_index_openai_like(server: RagServe, fake_llm: FakeOpenAI) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    def make(key: str) -> OpenAILike:
        return OpenAILike(
            model="seedrag", api_base=f"{server.url}/v1", api_key=key, is_chat_model=True, max_retries=0, timeout=30
        )

    llm = make(KEY)
    ask = [ChatMessage(role="user", content=QUESTION)]
    plain = llm.chat(ask)
    assert "Azerbaijan" in (plain.message.content or "")
    assert plain.raw is not None and plain.raw.usage.completion_tokens > 0  # type: ignore[union-attr]
    streamed = list(llm.stream_chat(ask))
    assert streamed[-1].message.content == plain.message.content
    with pytest.raises(Exception, match="401|API key"):
        make("wrong").chat(ask)

    fake_llm.reply = WITHHELD
    kept = list(llm.stream_chat(ask))[-1].message.content or ""
    assert kept.startswith(DRAFT)
    fake_llm.reset()
    llm.chat([*ask, ChatMessage(role="assistant", content=kept), ChatMessage(role="user", content=FOLLOW_UP)])
    check_follow_up(fake_llm)
