"""Turns a terminal transcript (stdin) into a small HTML page, for a screenshot in the docs.

some command | python docs/tools/terminal.py "title" > page.html
"""

import html
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "terminal"
    text = ANSI.sub("", sys.stdin.read())
    body = html.escape(text)
    body = re.sub(r"\b(ok|passed|PASSED)\b", r'<span class="ok">\1</span>', body)
    body = re.sub(r"\b(FAILED|ALERT|WARN)\b", r'<span class="bad">\1</span>', body)
    print(
        f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ margin: 0; background: #1e1e2e; color: #cdd6f4; font: 14px/1.45 ui-monospace, monospace; }}
h1 {{ font: 600 14px system-ui, sans-serif; margin: 0; padding: 10px 16px; background: #313244; }}
pre {{ margin: 0; padding: 12px 16px; white-space: pre-wrap; }}
.ok {{ color: #a6e3a1; }} .bad {{ color: #f38ba8; font-weight: 700; }}
</style>
<h1>{html.escape(title)}</h1><pre>{body}</pre>"""
    )


if __name__ == "__main__":
    main()
