"""Local Hugging Face ``transformers`` backend (CPU or GPU), batched.

Text mode: the chat template with the generation prompt, left-padded batches, greedy
(``temperature`` 0 or ``None``) or sampled generation with ``max_new_tokens``; the seed
``seed + sample`` of the batch's first request seeds torch before each batch.

Logprob mode generates the text answer as above and also scores the options exactly: for each
request and each of the six option phrases, the full answer ``phrase + end-of-turn`` (as the
chat template renders an assistant turn holding the phrase) is scored as the sum of its token
log-probabilities given the prompt (the prompt runs once; its KV cache is repeated for a
right-padded batch of the six continuations). ``p_valid`` = the sum of the six phrase
probabilities (the mass the model puts on answering exactly one of the phrases, lower-case as
the prompt shows them); ``p1..p6`` are the six probabilities divided by ``p_valid``. The six
answers are disjoint events because each ends with the end-of-turn token.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vp_bayes.errors import InputError
from vp_bayes.llm.backends.base import OPTION_PHRASES, Answer, Backend, Request


class TransformersBackend(Backend):
    """A causal LM run through ``transformers``.

    Parameters
    ----------
    model
        A local folder, a hub name (offline: must be in the local cache) or a ``.gguf`` file.
    gguf_file
        GGUF file name inside ``model`` (alternatively pass the ``.gguf`` path as ``model``).
    revision
        Hub revision (enters the cache key).
    batch_size
        Requests per forward batch.
    max_new_tokens, temperature, top_p
        Generation settings (``temperature`` 0/``None`` = greedy).
    logprobs
        Score the six options exactly instead of generating.
    device
        ``"cpu"``, ``"cuda"``, ... (default: cuda if available).
    model_obj, tokenizer
        Already loaded objects (tests load a model once and share it).
    """

    name = "transformers"
    batched = True

    def __init__(
        self,
        model: str,
        *,
        gguf_file: str | None = None,
        revision: str | None = None,
        batch_size: int = 8,
        max_new_tokens: int = 16,
        temperature: float | None = None,
        top_p: float | None = None,
        logprobs: bool = False,
        device: str | None = None,
        model_obj: Any = None,
        tokenizer: Any = None,
    ) -> None:
        import torch

        path = Path(model)
        if gguf_file is None and path.suffix == ".gguf" and path.is_file():
            model, gguf_file = str(path.parent), path.name
        self.model_name = model
        self.gguf_file = gguf_file
        self.revision = revision
        self.batch_size = max(1, batch_size)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.logprobs = logprobs
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if model_obj is None or tokenizer is None:
            model_obj, tokenizer = load_model(model, gguf_file=gguf_file, revision=revision)
        self.model = model_obj.to(self.device).eval()
        self.tokenizer = tokenizer
        if getattr(tokenizer, "chat_template", None) is None:
            raise InputError(
                "the tokenizer has no chat template; use an instruction-tuned model with one",
                field="model",
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

    def identity(self) -> dict[str, Any]:
        """Backend, model path/name (with GGUF file) and revision."""
        model = self.model_name if self.gguf_file is None else f"{self.model_name}/{self.gguf_file}"
        return {"backend": self.name, "base_url": None, "model": model,
                "revision": self.revision}

    # -- prompts -------------------------------------------------------------------------
    def _prompt(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                  tokenize=False)

    def _continuation(self, messages: list[dict[str, str]], prompt: str, phrase: str) -> str:
        full = self.tokenizer.apply_chat_template(
            [*messages, {"role": "assistant", "content": phrase}], tokenize=False
        )
        if not full.startswith(prompt):
            raise InputError("chat template does not extend the generation prompt; "
                             "logprob mode cannot score this model", field="model")
        cont = full[len(prompt):]
        eos = self.tokenizer.eos_token
        if eos and eos in cont:
            cont = cont[: cont.index(eos) + len(eos)]
        return cont

    # -- answering -----------------------------------------------------------------------
    def answer_batch(self, requests: list[Request]) -> list[Answer | Exception]:
        """Generate the answers; in logprob mode also score the six options exactly."""
        answers = self._generate(requests)
        if self.logprobs:
            for ans, req in zip(answers, requests, strict=True):
                scored = self._score_one(req)
                ans.probs, ans.p_valid = scored.probs, scored.p_valid
                ans.meta.update(scored.meta)
        return answers

    def _generate(self, requests: list[Request]) -> list[Answer]:
        import torch

        start = time.perf_counter()
        prompts = [self._prompt(r.messages) for r in requests]
        self.tokenizer.padding_side = "left"
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                             add_special_tokens=False).to(self.device)
        sample = bool(self.temperature)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sample:
            kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        seed = requests[0].seed
        if seed is not None:
            torch.manual_seed(seed)
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        latency = (time.perf_counter() - start) / len(requests)
        return [Answer(text=t.strip(), reported_model=self.identity()["model"], latency_s=latency,
                       meta={"batch": len(requests)}) for t in texts]

    def _score_one(self, request: Request) -> Answer:
        import torch

        start = time.perf_counter()
        prompt = self._prompt(request.messages)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        conts = [
            self.tokenizer(self._continuation(request.messages, prompt, ph),
                           add_special_tokens=False)["input_ids"]
            for ph in OPTION_PHRASES
        ]
        totals = self._continuation_logprobs(prompt_ids, conts)
        probs = torch.tensor(totals, dtype=torch.float64).exp()
        p_valid = float(probs.sum())
        norm = (probs / probs.sum()).tolist() if p_valid > 0 else None
        return Answer(text=None, probs=norm, p_valid=p_valid,
                      reported_model=self.identity()["model"],
                      latency_s=time.perf_counter() - start,
                      meta={"logprob_sums": totals})


    def _continuation_logprobs(self, prompt_ids: list[int], conts: list[list[int]]) -> list[float]:
        """Sum of token log-probabilities of each continuation given the prompt.

        The prompt runs once (KV cache); the continuations then run as one right-padded batch
        on the cache repeated for each of them.
        """
        import torch

        dev = self.device
        with torch.no_grad():
            first = self.model(input_ids=torch.tensor([prompt_ids], device=dev), use_cache=True)
            first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
            cache = first.past_key_values
            cache.batch_repeat_interleave(len(conts))
            width = max(len(c) for c in conts)
            ids = torch.full((len(conts), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(conts), len(prompt_ids) + width), dtype=torch.long)
            mask[:, : len(prompt_ids)] = 1
            for i, cont in enumerate(conts):
                ids[i, : len(cont)] = torch.tensor(cont)
                mask[i, len(prompt_ids) : len(prompt_ids) + len(cont)] = 1
            out = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                             past_key_values=cache, use_cache=True)
            logp = torch.log_softmax(out.logits.float(), dim=-1)
        totals = []
        for i, cont in enumerate(conts):
            total = float(first_logp[cont[0]])
            for j in range(1, len(cont)):
                total += float(logp[i, j - 1, cont[j]])
            totals.append(total)
        return totals


def load_model(model: str, *, gguf_file: str | None = None,
               revision: str | None = None) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer (GGUF files are de-quantised to float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    if revision is not None:
        kwargs["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, **kwargs)
        model_obj = AutoModelForCausalLM.from_pretrained(model, **kwargs)
    except OSError as err:
        raise InputError(f"cannot load model: {err}", field="model") from None
    return model_obj, tokenizer
