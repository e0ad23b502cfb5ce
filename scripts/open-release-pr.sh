#!/usr/bin/env bash
# open-release-pr.sh WHAT BODY_FILE: commit the released bundle and the tables written from it on a
# new branch, push it and open a pull request (GitHub Actions: GH_TOKEN, GITHUB_REPOSITORY). Nothing
# to commit: says so and opens nothing.
set -euo pipefail
what="$1" body="$2"
cd "$(dirname "$0")/.."
paths=(edge-model/models README.md docs/blog)
if git diff --quiet -- "${paths[@]}"; then
  echo "$what: the committed bundle is already this version; no pull request"
  exit 0
fi
version="$(python3 -c 'import json, sys; card = json.load(open(sys.argv[1])); print(card["name"] + "-v" + card["version"])' \
  "$(git diff --name-only -- edge-model/models | grep -m1 '/model.json$' | sed 's|^|./|')")"
branch="release/$version-$(date -u +%Y%m%d%H%M)"
git config user.name "moodwing-release"
git config user.email "moodwing-release@users.noreply.github.com"
git switch -c "$branch"
git add -- "${paths[@]}"
git commit -q -m "release: $version from the registry ($what)"
git push -q "https://x-access-token:${GH_TOKEN}@github.com/${GITHUB_REPOSITORY}.git" "HEAD:refs/heads/$branch"
gh pr create --head "$branch" --title "Release $version ($what)" --body-file "$body"
