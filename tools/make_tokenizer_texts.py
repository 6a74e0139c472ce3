"""Writes the test texts for the tokenizer ground truth (tests/MambaRef.Tests/TestData/tokenizer/neox_texts.json).

Usage: python3 tools/make_tokenizer_texts.py ../shared/data/tinyshakespeare.txt OUT.json
Deterministic (fixed seed); standard library only.
"""
import json
import random
import sys
import unicodedata

shakespeare_path, out_path = sys.argv[1], sys.argv[2]
lines = open(shakespeare_path, encoding="utf-8").read().split("\n")

texts = [
    "",
    " ",
    "Hello world",
    " Hello world",
    "  Hello world",
    "Hello  world",
    "Hello   world   ",
    "The quick brown fox jumps over the lazy dog.",
    "It's a dog's life; they're here, we've gone, I'm fine, you'll see, he'd know, don't.",
    "IT'S THEY'RE I'M 'S 're 've",
    "''s 's's 'ss 'x ' s",
    "Numbers: 0 1 12 123 1234 12345 3.14159 1,000,000 -42 +7 1e-9 0x1F 2024-01-01",
    "\u0663\u0664\u0665 \u00b2\u00b3 \u2167 \u00bd",
    "def f(x):\n    return x * 2\n\n\nclass A:\n\tpass\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot\n",
    "    indented with four spaces\n        eight\n            twelve",
    "\t\ttabs\tand\t \tspaces",
    "line1\nline2\r\nline3\rline4\n\n\n\nend",
    "trailing newline\n",
    "\n\nleading newlines",
    "emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️ ✨🎉",
    "中文测试：你好，世界！",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트입니다.",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m",
    unicodedata.normalize("NFD", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m"),
    "e\u0301 a\u0308 o\u0302\u0323 \u0301 x\u0301",
    "Hello<|endoftext|>World",
    "<|endoftext|>",
    " <|endoftext|> ",
    "a<|endoftext|><|endoftext|>b",
    "<|padding|> <|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>",
    "the assistants of RWKV and RWKVs",
    "<|endoftext",
    "<|endoftext|",
    "a" * 1000,
    "!" * 500,
    " " * 100,
    "x" + " " * 30 + "y",
    "x" + " " * 25 + "y" + " " * 48 + "z",
    "\n" * 50,
    "\t" * 20,
    "ab" * 300,
    "Русский текст, Ελληνικά, עברית, العربية, हिन्दी, ไทย, Türkçe, Polski: zażółć gęślą jaźń",
    "mixed日本English中文123数字",
    "nbsp:\u00a0x \u00a0 y, ideographic:\u3000x, thin:\u2009x, zwsp:\u200bx, nel:\u0085x, ls:\u2028x",
    "controls:\x00\x01\x1c\x1d\x1e\x1f\x7f x\x0by\x0cz",
    "math letters: \U0001d400\U0001d401\U0001d402 ext-b: \U00020000\U00020001 old italic: \U00010300",
    "URLs https://example.com/path?q=1&r=two#frag and emails a.b@c.org",
    "JSON: {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "    ",
    "  \n  ",
    " \n",
    "a \n b",
    "a  \n\n  b",
    "end with spaces   ",
    "'",
    "'s",
    " 's",
    "\u00e9",
    "e\u0301",
    "\ufeffBOM at start",
    "\ufffd replacement",
]

# a few hundred lines of tinyshakespeare: 30 chunks of 10 lines, plus one 300-line block
for k in range(30):
    texts.append("\n".join(lines[k * 10:(k + 1) * 10]))
texts.append("\n".join(lines[1000:1300]))

# seeded random strings over a pool that mixes every class the pre-tokenizer distinguishes
rng = random.Random(1234)
pool = (list("abcXYZ019 '.,!?-_") + [" "] * 6 + ["\n", "\t", "\r", "\u00a0", "\u3000", "'s", "'re", "'ll", "'d",
        "\u00e9", "e\u0301", "\u4e2d", "\u6587", "\U0001f600", "\U0001d400", "\u0663", "\u00b2", "<|endoftext|>",
        "<|padding|>", "assistant", "  ", "    ", "\u200b", "\u0301", "\u00c5", "A\u030a", "\U00020000"])
for _ in range(200):
    n = rng.randint(1, 40)
    texts.append("".join(rng.choice(pool) for _ in range(n)))

with open(out_path, "w", encoding="utf-8") as f:
    json.dump({"texts": texts}, f, ensure_ascii=True, indent=0)
print(len(texts), "texts")
