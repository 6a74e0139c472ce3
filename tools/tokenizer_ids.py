"""Ground-truth token ids from the Hugging Face `tokenizers` package.

Usage: python3 tools/tokenizer_ids.py TOKENIZER.json TEXTS.json OUT.json [SHAKESPEARE.txt]
TEXTS.json is {"texts": [...]} (see tools/make_tokenizer_texts.py). OUT.json gets, per text, the ids of
Tokenizer.encode(text) (no extra special tokens are added by the GPT-NeoX post-processor) and
decode(ids, skip_special_tokens=False). With SHAKESPEARE.txt it also times encode on that file as a reference.
"""
import hashlib
import json
import struct
import sys
import time

import tokenizers

tok_path, texts_path, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
tok = tokenizers.Tokenizer.from_file(tok_path)
texts = json.load(open(texts_path, encoding="utf-8"))["texts"]
rows = []
for t in texts:
    enc = tok.encode(t)
    rows.append({"text": t, "ids": enc.ids, "decoded": tok.decode(enc.ids, skip_special_tokens=False)})
result = {
    "tokenizers_version": tokenizers.__version__,
    "vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
    "rows": rows,
}
if len(sys.argv) > 4:
    text = open(sys.argv[4], encoding="utf-8").read()
    data = text.encode("utf-8")
    t0 = time.perf_counter()
    ids = tok.encode(text).ids
    t1 = time.perf_counter()
    result["shakespeare"] = {
        "bytes": len(data),
        "ids_count": len(ids),
        "ids_first_200": ids[:200],
        "ids_sha256_int32le": hashlib.sha256(struct.pack("<%di" % len(ids), *ids)).hexdigest(),
        "encode_seconds_single_call": t1 - t0,
        "encode_MBps_single_call": len(data) / (t1 - t0) / 1e6,
    }
    lines = text.split("\n")
    t0 = time.perf_counter()
    for line in lines:
        tok.encode(line)
    t1 = time.perf_counter()
    result["shakespeare"]["encode_MBps_per_line_loop"] = len(data) / (t1 - t0) / 1e6
    json.dump(ids, open(out_path + ".shakespeare_ids.json", "w"))
json.dump(result, open(out_path, "w", encoding="utf-8"), ensure_ascii=True)
print("wrote", len(rows), "rows; tokenizers", tokenizers.__version__)
