"""Assemble the single-page app's site from web-ui/index.html and the wasm-bindgen output, as trunk
did for this page, with no tool to build first:

    python3 scripts/build_spa.py web-ui BINDGEN_DIR SITE_DIR

`index.html`'s `<link data-trunk ...>` lines say what goes in:
- `rel="copy-file" href=F`: F is copied beside the page;
- `rel="css" href=F`: F is copied as `name-<hash>.css` and linked as a stylesheet;
- `rel="rust"`: the app's glue and wasm (BINDGEN_DIR, from `wasm-bindgen --target web`) are copied as
  `<crate>-<hash>.js` and `<crate>-<hash>_bg.wasm`, preloaded, and started by a module script.

A file whose name carries a hash (16 hex digits of its sha256) never changes: the service worker
(`web-ui/sw.js`) answers it from its cache. Standard library only (the deploy job has no venv).
"""

import base64
import hashlib
import re
import shutil
import sys
from pathlib import Path

CRATE = "moodwing-web-ui"
TRUNK_LINK = re.compile(r"^[ \t]*<link data-trunk ([^>]*?)\s*/?>[ \t]*\n", re.M)
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def integrity(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def hashed(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def build(source: Path, bindgen: Path, site: Path) -> None:
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    glue = (bindgen / f"{CRATE}.js").read_bytes()
    wasm = (bindgen / f"{CRATE}_bg.wasm").read_bytes()

    def replace(match: re.Match) -> str:
        attributes = dict(ATTRIBUTE.findall(match.group(1)))
        indent = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        rel = attributes["rel"]
        if rel == "copy-file":
            shutil.copy(source / attributes["href"], site / attributes["href"])
            return ""
        if rel == "css":
            data = (source / attributes["href"]).read_bytes()
            name = f"{Path(attributes['href']).stem}-{hashed(data)}.css"
            (site / name).write_bytes(data)
            return f'{indent}<link rel="stylesheet" href="/{name}" integrity="{integrity(data)}" />\n'
        if rel == "rust":
            stem = f"{CRATE}-{hashed(glue + wasm)}"
            (site / f"{stem}.js").write_bytes(glue)
            (site / f"{stem}_bg.wasm").write_bytes(wasm)
            return (
                f'{indent}<link rel="modulepreload" href="/{stem}.js" crossorigin="anonymous" '
                f'integrity="{integrity(glue)}" />\n'
                f'{indent}<link rel="preload" href="/{stem}_bg.wasm" crossorigin="anonymous" '
                f'integrity="{integrity(wasm)}" as="fetch" type="application/wasm" />\n'
                f'{indent}<script type="module">\n'
                f"{indent}  import init from '/{stem}.js';\n"
                f"{indent}  await init({{ module_or_path: '/{stem}_bg.wasm' }});\n"
                f"{indent}</script>\n"
            )
        raise ValueError(f"index.html: a data-trunk link this script does not know: {match.group(0).strip()}")

    page = TRUNK_LINK.sub(replace, (source / "index.html").read_text(encoding="utf-8"))
    if "<link data-trunk" in page:
        raise ValueError("index.html: a data-trunk link was left unread")
    (site / "index.html").write_text(page, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    build(*(Path(arg) for arg in sys.argv[1:]))
