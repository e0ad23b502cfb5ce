"""Keeps the blog article and the README honest: their metrics tables come from the bundles (and
docs/figures/reference.json), and the article's length is in range.

python docs/tools/blog.py check   # fails if a table is stale or the English text is not 1,500-2,000 words
python docs/tools/blog.py write   # rewrites both tables
"""

import re
import sys
from pathlib import Path

from figures import metrics_table

ARTICLE = Path(__file__).resolve().parents[1] / "blog" / "moodwing-bad-buzz.md"
README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"
WORDS = range(1500, 2001)


def english_words(text: str) -> int:
    """Words of the English article: after the French summary, without tables, images, code, comments."""
    body = text.split("\n---\n", 1)[1] if "\n---\n" in text else text
    body = re.sub(r"<!--.*?-->", " ", body, flags=re.S)
    body = re.sub(r"```.*?```", " ", body, flags=re.S)
    body = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", body)
    body = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("|"))
    return len(re.findall(r"[A-Za-z0-9][\w'’.,%-]*", body))


def with_table(text: str, path: Path) -> str:
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        sys.exit(f"{path}: no {START} ... {END} block")
    return pattern.sub(lambda _: f"{START}\n{metrics_table()}\n{END}", text)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    if command == "write":
        for path in (ARTICLE, README):
            path.write_text(with_table(path.read_text(), path))
        return
    problems = []
    readme = README.read_text()
    if with_table(readme, README) != readme:
        print(f"{README.name}: the metrics table differs from the bundles (run: python docs/tools/blog.py write)")
        sys.exit(1)
    text = ARTICLE.read_text()
    if with_table(text, ARTICLE) != text:
        problems.append("the metrics table differs from the bundles (run: python docs/tools/blog.py write)")
    words = english_words(text)
    if words not in WORDS:
        problems.append(f"{words} words, not {WORDS.start:,}-{WORDS.stop - 1:,}")
    if not text.lstrip().startswith("#") or "Résumé" not in text.split("\n---\n", 1)[0]:
        problems.append("the French summary (Résumé) must come first, before a --- line")
    for problem in problems:
        print(f"{ARTICLE.name}: {problem}")
    if problems:
        sys.exit(1)
    print(f"{ARTICLE.name}: {words} words, metrics table matches the bundles")


if __name__ == "__main__":
    main()
