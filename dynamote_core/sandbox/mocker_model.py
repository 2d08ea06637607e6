"""The small model directory the Dynamo mocker engine serves: files only, no weights.

The mocker reads a Llama-style `config.json` to size its KV cache, and the frontend
tokenizes prompts and detokenizes replies with `tokenizer.json` and the chat template
in `tokenizer_config.json`. Everything here is generated deterministically in code, so
nothing is downloaded and the directory is the same on every machine.

The mocker emits token ids between 1000 and 1999; the vocabulary puts pronounceable
words there so replies read as words, and has well over 2,000 entries (with fewer, every
reply comes back empty). Prompts are split WordPiece-style: a known word is one token,
any other word falls back to one token per character, so different prompts give
different token sequences (which the KV router's prefix cache relies on).

Must not: download anything, depend on the `tokenizers` package, write outside the
directory it is given. Called by `dynamote_core.sandbox.dynamo_runtime`.
"""

from __future__ import annotations

import itertools
import json
import string
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>")
WORD_COUNT = 2400
CONTINUATION_PREFIX = "##"

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|> {{ message['content'] }} "
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_vocabulary() -> dict[str, int]:
    """Token to id: special tokens, single characters (plain and `##`), then words."""
    characters = [c for c in string.printable if not c.isspace()]
    tokens = [*SPECIAL_TOKENS, *characters]
    tokens += [CONTINUATION_PREFIX + c for c in characters]
    tokens += generate_words(WORD_COUNT)
    return {token: index for index, token in enumerate(tokens)}


def generate_words(count: int) -> list[str]:
    """`count` distinct pronounceable lowercase words, always the same ones."""
    syllables = [c + v for c, v in itertools.product("bdfgklmnprstvz", "aeiou")]
    # Stepping through the pairs with a stride coprime to their number spreads the
    # syllables, so neighbouring ids (and hence replies) do not all start alike.
    pairs = list(itertools.product(syllables, repeat=2))
    stride = 37
    return ["".join(pairs[(i * stride) % len(pairs)]) for i in range(count)]


def build_tokenizer() -> dict[str, Any]:
    """A Hugging Face `tokenizer.json` document for a WordPiece tokenizer."""
    vocabulary = build_vocabulary()
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": vocabulary[token],
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for token in SPECIAL_TOKENS
        ],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {
            "type": "WordPiece",
            "prefix": CONTINUATION_PREFIX,
            "cleanup": True,
        },
        "model": {
            "type": "WordPiece",
            "unk_token": "<unk>",
            "continuing_subword_prefix": CONTINUATION_PREFIX,
            "max_input_chars_per_word": 100,
            "vocab": vocabulary,
        },
    }


def build_model_config(vocab_size: int) -> dict[str, Any]:
    """A small Llama-style `config.json`; the mocker sizes its KV cache from it."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 512,
        "intermediate_size": 1376,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 64,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab_size,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": False,
    }


def build_tokenizer_config() -> dict[str, Any]:
    """`tokenizer_config.json`: special tokens and the chat template."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": False,
        "model_max_length": 4096,
        "chat_template": CHAT_TEMPLATE,
    }


def write_mocker_model(directory: Path) -> Path:
    """Write the model directory (idempotent) and return its path.

    Args:
        directory: where to write; created if missing.
    """
    vocabulary = build_vocabulary()
    documents = {
        "config.json": build_model_config(len(vocabulary)),
        "tokenizer.json": build_tokenizer(),
        "tokenizer_config.json": build_tokenizer_config(),
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2},
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (directory / name).write_text(json.dumps(document, indent=1), encoding="utf-8")
    return directory
