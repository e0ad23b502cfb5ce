"""Tweet text normalisation, shared by training and serving.

The Rust edge model (`edge-model/src/normalize.rs`) implements the same rules; the bundle's
`golden.jsonl` carries the normalised text of every golden tweet so the Rust tests prove that
both sides agree. Bump `NORMALIZATION_VERSION` whenever a rule changes.

Rules, applied in this order:
1. The five HTML entities Twitter escapes (`&amp; &lt; &gt; &quot; &#39;`) are unescaped, in one pass.
2. URLs (`http://…`, `https://…`, `www.…` up to the next space) become `http`.
3. @mentions become `@user` (the TweetEval convention; it also hides which airline is addressed).
4. A character repeated three or more times is cut to two (`soooo` -> `soo`, `!!!!` -> `!!`).
5. Runs of white space become one space; leading and trailing space is removed.
Case is left alone: each model's tokenizer decides it.
"""

import re

NORMALIZATION_VERSION = 1

# An explicit white-space set (Unicode White_Space), so that Python and Rust agree exactly:
# Python's `\s` also matches \x1c-\x1f, Rust's does not.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_WS_CLASS = "[" + re.escape(WHITESPACE) + "]"
_NON_WS_CLASS = "[^" + re.escape(WHITESPACE) + "]"

_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
_ENTITY_RE = re.compile("|".join(re.escape(e) for e in _ENTITIES))
_URL_RE = re.compile(f"(?:https?://|www\\.){_NON_WS_CLASS}*", re.IGNORECASE)
_MENTION_RE = re.compile(r"@[A-Za-z0-9_]+")
_REPEAT_RE = re.compile(r"(.)\1{2,}", re.DOTALL)
_WS_RUN_RE = re.compile(f"{_WS_CLASS}+")

URL_TOKEN = "http"
MENTION_TOKEN = "@user"


def normalize(text: str) -> str:
    """Return the normalised form of one tweet (see the module docstring for the rules)."""
    text = _ENTITY_RE.sub(lambda m: _ENTITIES[m.group(0)], text)
    text = _URL_RE.sub(URL_TOKEN, text)
    text = _MENTION_RE.sub(MENTION_TOKEN, text)
    text = _REPEAT_RE.sub(lambda m: m.group(1) * 2, text)
    return _WS_RUN_RE.sub(" ", text).strip(WHITESPACE)
